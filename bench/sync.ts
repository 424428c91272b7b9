/**
 * Initial sync: how long until the Watcher is `ready` with N alive containers, against the floor
 * (the same list RPCs issued bare) and the peer (the same RPCs through grpc-js), plus the RPCs a
 * sync costs.
 *
 * Every contender runs on its own warm connection (one HTTP/2 session, opened before timing), and
 * the contenders take turns within each round so that drift on the machine (page cache, other
 * processes, containerd's own garbage collection) spreads over all of them alike.
 *
 * - floor (connect, bare): Namespaces.List, then Containers.List + Tasks.List of every namespace
 *   concurrently, with the generated clients; nothing decoded beyond the protobuf messages.
 * - grpc-js: the same RPCs in the same order and concurrency.
 * - engine.list: ContainerdEngine's list (the same RPCs, then Container values).
 * - live floor (connect, bare): what a sync must do before listing so that no event can be missed
 *   — open Events.Subscribe, publish a marker until it comes back on the stream — then the floor.
 * - Watcher ready: a new Watcher on the engine (subscribe, wait for the marker, list, build the
 *   portfolio), from building its layer until `ready` completes.
 */
import { setTimeout as sleep } from "node:timers/promises"
import { type Interceptor } from "@connectrpc/connect"
import { Context, Effect, Layer } from "effect"
import { ContainerdEngine } from "../src/containerd/index.ts"
import { EngineClient, type EngineClientShape } from "../src/EngineClient.ts"
import * as Watcher from "../src/Watcher.ts"
import {
  type BareClients,
  bareConnect,
  bareSync,
  countingInterceptor,
  describeCounts,
  grpcJs,
  type GrpcJsClients,
  grpcJsSync,
  inNamespace,
  totalCount
} from "./lib/clients.ts"
import { benchNamespaces, growTo, type Scene } from "./lib/scene.ts"
import { ms, ratio, spread, summarize, type Summary } from "./lib/stats.ts"
import { row, type Section, section, verdict } from "./lib/table.ts"

export interface SyncSettings {
  readonly sizes: ReadonlyArray<number>
  /**
   * Measured rounds for N containers: small syncs are short and noisy (a few ms of scheduling
   * matter), so they get more rounds for the same confidence in their medians.
   */
  readonly rounds: (n: number) => number
  /** Pause after starting containers, so that their shims have settled before timing starts. */
  readonly settleMillis: number
  readonly warmupRounds: number
  readonly startConcurrency: number
}

/**
 * The bare "live" floor: Events.Subscribe, then a marker published until it comes back (the first
 * often beats the server's registration of the subscription: re-published after 1, 2, 4 ... ms,
 * as fast as makes sense for a ~1 ms round trip), then the list RPCs.
 */
const bareLiveSync = async (clients: BareClients): Promise<number> => {
  const controller = new AbortController()
  const topic = "/effect-whalewatcher-bench/live"
  const token = new TextEncoder().encode(crypto.randomUUID())
  const matches = (value: Uint8Array | undefined) =>
    value !== undefined && value.length === token.length && value.every((byte, i) => byte === token[i])
  try {
    const stream = clients.events.subscribe({ filters: [`topic==${JSON.stringify(topic)}`] }, {
      signal: controller.signal
    })
    const back = (async () => {
      for await (const envelope of stream) if (matches(envelope.event?.value)) return true
      throw new Error("the event stream ended")
    })()
    back.catch(() => undefined)
    for (let wait = 1; ; wait = Math.min(wait * 2, 160)) {
      await clients.events.publish({ topic, event: { typeUrl: "bench.Marker", value: token } }, inNamespace("default"))
      if (await Promise.race([back, sleep(wait).then(() => false)])) break
    }
    return await bareSync(clients)
  } finally {
    controller.abort()
  }
}

interface Measured {
  readonly n: number
  readonly namespaces: number
  readonly floor: Summary
  readonly grpcJs: Summary
  readonly list: Summary
  readonly liveFloor: Summary
  readonly watcher: Summary
  readonly listRpcs: ReadonlyMap<string, number>
  /** RPCs of one Watcher sync (the last round's). */
  readonly watcherRpcs: ReadonlyMap<string, number>
  readonly rounds: number
  /** Marker publishes per Watcher sync, over all rounds. */
  readonly markersPerSync: number
  /** Where a Watcher's ready time goes (all rounds, warm-up included). */
  readonly breakdown: Readonly<Record<"toSubscribe" | "subscribe" | "toList" | "list" | "toReady", Summary>>
}

const measureSize = (
  engine: EngineClientShape,
  counts: Map<string, number>,
  bare: BareClients,
  peer: GrpcJsClients,
  n: number,
  settings: SyncSettings
): Effect.Effect<Measured, unknown> =>
  Effect.gen(function*() {
    const samples = { floor: [] as Array<number>, grpcJs: [] as Array<number>, list: [] as Array<number>, liveFloor: [] as Array<number>, watcher: [] as Array<number> }
    let listRpcs = new Map<string, number>()
    let watcherRpcs = new Map<string, number>()
    let markers = 0
    const breakdown = {
      toSubscribe: [] as Array<number>,
      subscribe: [] as Array<number>,
      toList: [] as Array<number>,
      list: [] as Array<number>,
      toReady: [] as Array<number>
    }
    let namespaces = 0

    const timePromise = (run: () => Promise<number>) =>
      Effect.promise(async () => {
        const start = performance.now()
        const alive = await run()
        return { ms: performance.now() - start, alive }
      })

    const contenders: ReadonlyArray<readonly [keyof typeof samples, Effect.Effect<number, unknown>]> = [
      ["floor", Effect.map(timePromise(() => bareSync(bare)), (r) => r.ms)],
      ["grpcJs", Effect.map(timePromise(() => grpcJsSync(peer)), (r) => r.ms)],
      ["list", Effect.gen(function*() {
        counts.clear()
        const start = performance.now()
        const listed = yield* engine.list
        const ms = performance.now() - start
        listRpcs = new Map(counts)
        if (listed.length !== n) return yield* Effect.die(new Error(`engine.list found ${listed.length} containers, expected ${n}`))
        return ms
      })],
      ["liveFloor", Effect.map(timePromise(() => bareLiveSync(bare)), (r) => r.ms)],
      ["watcher", Effect.gen(function*() {
        counts.clear()
        const stamps: Array<number> = []
        const stamp = Effect.sync(() => stamps.push(performance.now()))
        // The engine as the Watcher sees it, stamped where subscribe and list start and end.
        const stamped: EngineClientShape = {
          ...engine,
          subscribe: Effect.andThen(stamp, Effect.tap(engine.subscribe, () => stamp)),
          list: Effect.andThen(stamp, Effect.tap(engine.list, () => stamp))
        }
        const start = performance.now()
        const ms = yield* Effect.scoped(Effect.gen(function*() {
          const context = yield* Layer.build(Watcher.layer())
          yield* Context.get(context, Watcher.Watcher).ready
          return performance.now() - start
        }).pipe(Effect.provide(Layer.succeed(EngineClient, stamped))))
        watcherRpcs = new Map(counts)
        markers += counts.get("Events.Publish") ?? 0
        const [subscribing, live, listing, listed] = stamps
        if (listed !== undefined) {
          breakdown.toSubscribe.push(subscribing! - start)
          breakdown.subscribe.push(live! - subscribing!)
          breakdown.toList.push(listing! - live!)
          breakdown.list.push(listed - listing!)
          breakdown.toReady.push(start + ms - listed)
        }
        return ms
      })]
    ]

    namespaces = (yield* Effect.promise(() => bare.namespaces.list({}))).namespaces.length
    const rounds = settings.rounds(n)
    for (let round = 0; round < settings.warmupRounds + rounds; round++) {
      // Rotate who goes first, so no contender always runs right after the same other one.
      for (let k = 0; k < contenders.length; k++) {
        const [name, measure] = contenders[(round + k) % contenders.length]!
        const ms = yield* measure
        if (round >= settings.warmupRounds) samples[name].push(ms)
      }
    }
    return {
      n,
      namespaces,
      floor: summarize(samples.floor),
      grpcJs: summarize(samples.grpcJs),
      list: summarize(samples.list),
      liveFloor: summarize(samples.liveFloor),
      watcher: summarize(samples.watcher),
      listRpcs,
      watcherRpcs,
      rounds,
      markersPerSync: markers / (settings.warmupRounds + rounds),
      breakdown: {
        toSubscribe: summarize(breakdown.toSubscribe),
        subscribe: summarize(breakdown.subscribe),
        toList: summarize(breakdown.toList),
        list: summarize(breakdown.list),
        toReady: summarize(breakdown.toReady)
      }
    }
  })

const withoutSubscription = (counts: ReadonlyMap<string, number>): Map<string, number> =>
  new Map([...counts].filter(([key]) => !key.startsWith("Events.")))

export const run = (scene: Scene, settings: SyncSettings): Effect.Effect<Section, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const result = section("1. Initial sync (real containerd, 8 namespaces; ms: median (min–p90–max))")
    const socket = scene.sandbox.socketPath
    const counts = new Map<string, number>()
    const counter: Interceptor = countingInterceptor(counts)
    const engine = Context.get(
      yield* Layer.build(ContainerdEngine.layerConfig({ address: socket, interceptors: [counter] })),
      EngineClient
    )
    const bare = yield* Effect.acquireRelease(Effect.sync(() => bareConnect(socket)), (c) => Effect.sync(c.close))
    const peer = yield* Effect.acquireRelease(Effect.promise(() => grpcJs(socket)), (c) => Effect.sync(c.close))

    for (const size of settings.sizes) {
      const growth = yield* growTo(scene, size, settings.startConcurrency)
      result.notes.push(
        `N = ${growth.requested}: ${growth.reached} containers alive after ${growth.seconds.toFixed(1)} s of setup ` +
          `(${settings.startConcurrency} concurrent \`ctr run\`; MemAvailable went down by ` +
          `${(scene.memoryUsed / Math.max(1, scene.memoryMeasuredFor) / 2 ** 20).toFixed(1)} MiB per container started so far)` +
          (growth.limitedBy === undefined ? "" : `; stopped short by ${growth.limitedBy}`)
      )
      yield* Effect.sleep(settings.settleMillis)
      const m = yield* measureSize(engine, counts, bare, peer, growth.reached, settings)
      const tag = `N=${m.n}`
      const listOnly = withoutSubscription(m.watcherRpcs)
      const goal = 1 + 2 * m.namespaces
      result.rows.push(
        row(`${tag} floor: bare connect-es, list RPCs`, spread(m.floor)),
        row(`${tag} peer: grpc-js, list RPCs`, spread(m.grpcJs), { baseline: "floor", ratio: ratio(m.grpcJs.median, m.floor.median) }),
        row(`${tag} engine.list`, spread(m.list), { baseline: "floor", ratio: ratio(m.list.median, m.floor.median) }),
        row(`${tag} live floor: bare subscribe + marker + list RPCs`, spread(m.liveFloor), {
          baseline: "floor",
          ratio: ratio(m.liveFloor.median, m.floor.median)
        }),
        row(`${tag} Watcher ready`, spread(m.watcher), {
          baseline: "floor",
          ratio: ratio(m.watcher.median, m.floor.median),
          target: "<= 1.2x floor",
          verdict: verdict(m.watcher.median <= 1.2 * m.floor.median)
        }),
        row(`${tag} Watcher ready vs live floor`, spread(m.watcher), {
          baseline: "live floor",
          ratio: ratio(m.watcher.median, m.liveFloor.median),
          target: "<= 1.2x (same RPCs)",
          verdict: verdict(m.watcher.median <= 1.2 * m.liveFloor.median)
        }),
        row(
          `${tag} Watcher ready, where the time goes (medians)`,
          `start ${ms(m.breakdown.toSubscribe.median)} + subscribe until live ${ms(m.breakdown.subscribe.median)} + ` +
            `${ms(m.breakdown.toList.median)} + list ${ms(m.breakdown.list.median)} + portfolio and ready ${ms(m.breakdown.toReady.median)}`
        ),
        row(`${tag} RPCs of engine.list`, `${totalCount(m.listRpcs)} (${describeCounts(m.listRpcs)})`, {
          target: `1 + 2 x ${m.namespaces} = ${goal}`,
          verdict: verdict(totalCount(m.listRpcs) === goal)
        }),
        row(
          `${tag} RPCs of a Watcher sync`,
          `${totalCount(m.watcherRpcs)}: list ${totalCount(listOnly)} + events ${totalCount(m.watcherRpcs) - totalCount(listOnly)} ` +
            `(${describeCounts(m.watcherRpcs)}); marker publishes per sync ${m.markersPerSync.toFixed(2)}`,
          { target: `list: ${goal}`, verdict: verdict(totalCount(listOnly) === goal) }
        )
      )
    }
    result.notes.push(
      "Where the Watcher's time goes: the Watcher runs on the engine wrapped to stamp the start and end of its subscribe (which returns once the marker came back) and of its list; the parts are medians over the rounds and need not add up to the median total.",
      `Measured rounds: ${settings.sizes.map((n) => `${settings.rounds(n)} for N = ${n}`).join(", ")}, each after ${settings.warmupRounds} warm-up rounds and a ${settings.settleMillis / 1000} s pause once the containers were started; each round runs every contender once, in rotating order, each on its own warm connection.`,
      "floor = the list RPCs alone; live floor = what a gap-free sync must do first (Events.Subscribe, publish a marker until it is seen on the stream) plus the list RPCs, i.e. the same RPCs the Watcher issues.",
      `Namespaces: ${benchNamespaces.join(", ")}; containerd's Tasks.List asks every task's shim for its state, so the server's work grows with N for every client alike.`
    )
    return result
  }))
