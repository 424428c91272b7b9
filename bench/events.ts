/**
 * Per-event cost: containers started by `ctr run` while a Watcher runs on the real containerd.
 *
 * - RPCs per start event, counted on the Watcher's own connection (goal: 2 — the Containers.Get
 *   that completes a `/tasks/start` event, which carries no labels, and the Tasks.Get beside it
 *   that confirms the task, since anyone on the socket may publish a start, and a shim re-sends
 *   one late).
 * - Latency from the event's arrival at the client to the Watcher announcing it: the arrival is
 *   stamped by an interceptor on the Watcher's connection as the Events.Subscribe stream yields
 *   the decoded envelope (closest to the socket we can get without patching connect); the
 *   announcement is stamped where a subscriber of `watcher.events` receives the `Started` event,
 *   i.e. after the portfolio was updated (the Watcher sets the portfolio before it publishes).
 * - The baseline is one bare unary RPC — the Containers.Get such an event needs — issued the
 *   moment a start event arrives: a bare client on its own connection subscribes to `/tasks/start`
 *   in a namespace of its own (which the Watcher ignores) and calls Containers.Get as each
 *   envelope arrives (arrival to answer). Starts alternate between the Watcher's namespaces and
 *   the floor's, so both are measured under the same conditions (right after a start, `ctr`, runc,
 *   the shim and containerd are busy: an RPC then takes longer than on an idle engine) and never
 *   compete for the same event. Idle figures are reported as well.
 *
 * Two patterns: isolated starts (one `ctr run` at a time: the latency of one event), and a burst
 * (several `ctr run` at once: events arrive close together and may queue behind each other).
 */
import { fromBinary } from "@bufbuild/protobuf"
import type { Interceptor, StreamResponse } from "@connectrpc/connect"
import { Context, Deferred, Effect, Layer, Stream } from "effect"
import { TaskStartSchema } from "../gen/containerd/events/task_pb.ts"
import type { Envelope } from "../gen/containerd/services/events/v1/events_pb.ts"
import { ContainerdConnection, ContainerdEngine } from "../src/containerd/index.ts"
import { EngineClient, type EngineClientShape } from "../src/EngineClient.ts"
import * as Watcher from "../src/Watcher.ts"
import { bareConnect, countingInterceptor, describeCounts, inNamespace, totalCount } from "./lib/clients.ts"
import { benchNamespaces, type Scene, startContainer } from "./lib/scene.ts"

/** The bare floor's own namespace; the Watcher ignores it. */
const floorNamespace = "bench-floor"
import { ratio, spread, summarize } from "./lib/stats.ts"
import { row, type Section, section, verdict } from "./lib/table.ts"

export interface EventSettings {
  /** Containers started one at a time. */
  readonly isolated: number
  /** Containers started at once, `burstConcurrency` `ctr run`s in parallel. */
  readonly burst: number
  readonly burstConcurrency: number
  /** Calls for each idle baseline. */
  readonly idleCalls: number
}

interface Arrival {
  readonly at: number
  readonly envelope: Envelope
}

/** Stamps every message of Events.Subscribe streams as connect yields it. */
const arrivalStamper = (arrivals: Array<Arrival>): Interceptor => (next) => async (request) => {
  const response = await next(request)
  if (!response.stream || request.method.name !== "Subscribe") return response
  const messages = response.message as AsyncIterable<Envelope>
  async function* stamped() {
    for await (const envelope of messages) {
      arrivals.push({ at: performance.now(), envelope })
      yield envelope
    }
  }
  return { ...response, message: stamped() } as StreamResponse
}

/** A started container's namespace, containerd id and display ID, from a `/tasks/start` envelope. */
const startedIn = (envelope: Envelope) => {
  if (envelope.topic !== "/tasks/start" || envelope.event === undefined) return undefined
  const { containerId } = fromBinary(TaskStartSchema, envelope.event.value)
  const namespace = envelope.namespace
  return { namespace, id: containerId, displayId: namespace === "default" ? containerId : `${namespace}/${containerId}` }
}

/** The arrival time of the first `/tasks/start` envelope of each container, by display ID. */
const startArrivals = (arrivals: ReadonlyArray<Arrival>): Map<string, number> => {
  const byId = new Map<string, number>()
  for (const { at, envelope } of arrivals) {
    const started = startedIn(envelope)
    if (started !== undefined && !byId.has(started.displayId)) byId.set(started.displayId, at)
  }
  return byId
}

/** When each stage of a start event's way through the Watcher was reached, by display ID. */
interface Stages {
  /** The engine's event stream handed the decoded `Started` to the Watcher. */
  readonly emitted: Map<string, number>
  /** The Watcher called the engine's resolveStarted. */
  readonly resolving: Map<string, number>
  /** resolveStarted returned. */
  readonly resolved: Map<string, number>
}

/**
 * The engine as the Watcher sees it, with stage stamps on its event stream and on
 * resolveStarted (one Stream.tap and two Effect.syncs per event: a few microseconds at most).
 */
const stamped = (engine: EngineClientShape, stages: Stages): EngineClientShape => {
  const stampOnce = (map: Map<string, number>, id: string) => {
    if (!map.has(id)) map.set(id, performance.now())
  }
  return {
    ...engine,
    subscribe: Effect.map(engine.subscribe, (events) =>
      Stream.tap(events, (event) =>
        Effect.sync(() => {
          if (event._tag === "Started") stampOnce(stages.emitted, event.id)
        })
      )),
    resolveStarted: (event) =>
      Effect.sync(() => stampOnce(stages.resolving, event.id)).pipe(
        Effect.andThen(engine.resolveStarted(event)),
        Effect.tap(() => Effect.sync(() => stampOnce(stages.resolved, event.id)))
      )
  }
}

const timed = <A>(run: () => Promise<A>) =>
  Effect.promise(async () => {
    const start = performance.now()
    await run()
    return performance.now() - start
  })

export const run = (scene: Scene, settings: EventSettings): Effect.Effect<Section, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const result = section("2. Per-event cost (real containerd, containers started by `ctr run` while a Watcher runs)")
    const socket = scene.sandbox.socketPath

    // Idle baselines first, on a container of our own, while nothing else happens on the engine.
    const probeNamespace = benchNamespaces[0]!
    const probeId = `ev-probe-${scene.run}`
    yield* scene.sandbox.ctr(
      ["run", "--detach", "--null-io", "--rootfs", scene.sandbox.rootfs, probeId, "/bin/sleep", "1000000"],
      probeNamespace
    )
    scene.extra++
    const bare = yield* Effect.acquireRelease(Effect.sync(() => bareConnect(socket)), (c) => Effect.sync(c.close))
    const connection = Context.get(
      yield* Layer.build(ContainerdConnection.layer({ address: socket })),
      ContainerdConnection.ContainerdConnection
    )
    const idle = { bareGet: [] as Array<number>, connectionGet: [] as Array<number>, bareVersion: [] as Array<number> }
    for (let i = 0; i < settings.idleCalls + 20; i++) {
      const bareGet = yield* timed(() => bare.containers.get({ id: probeId }, inNamespace(probeNamespace)))
      const start = performance.now()
      yield* connection.call("Containers.Get", (c, o) => c.containers.get({ id: probeId }, o), { namespace: probeNamespace })
      const connectionGet = performance.now() - start
      const bareVersion = yield* timed(() => bare.version.version({}))
      // The first 20 rounds warm the JIT up.
      if (i >= 20) {
        idle.bareGet.push(bareGet)
        idle.connectionGet.push(connectionGet)
        idle.bareVersion.push(bareVersion)
      }
    }

    // The Watcher, on an engine with a counting and an arrival-stamping interceptor (the stamper
    // last: connect applies the last interceptor first, nearest the transport).
    const counts = new Map<string, number>()
    const arrivals: Array<Arrival> = []
    const engine = Context.get(
      yield* Layer.build(ContainerdEngine.layerConfig({
        address: socket,
        interceptors: [countingInterceptor(counts), arrivalStamper(arrivals)],
        ignoreAlsoNamespaces: [floorNamespace]
      })),
      EngineClient
    )
    const stages: Stages = { emitted: new Map(), resolving: new Map(), resolved: new Map() }
    const watcher = Context.get(
      yield* Layer.build(Watcher.layer().pipe(Layer.provide(Layer.succeed(EngineClient, stamped(engine, stages))))),
      Watcher.Watcher
    )
    yield* watcher.ready

    // Announcements of Started events, by display ID.
    const announced = new Map<string, number>()
    const waiting = new Map<string, Deferred.Deferred<void>>()
    yield* watcher.events.pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          if (event._tag !== "Started") return
          if (!announced.has(event.container.id)) announced.set(event.container.id, performance.now())
          const waiter = waiting.get(event.container.id)
          if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.void)
        })
      ),
      Effect.forkScoped
    )

    // The bare event floor: its own connection, its own subscription, one Containers.Get per start.
    const floor = new Map<string, number>()
    const floorClients = yield* Effect.acquireRelease(Effect.sync(() => bareConnect(socket)), (c) => Effect.sync(c.close))
    const floorController = yield* Effect.acquireRelease(
      Effect.sync(() => new AbortController()),
      (controller) => Effect.sync(() => controller.abort())
    )
    const floorLoop = (async () => {
      const stream = floorClients.events.subscribe(
        { filters: [`topic=="/tasks/start",namespace==${JSON.stringify(floorNamespace)}`] },
        { signal: floorController.signal }
      )
      for await (const envelope of stream) {
        const at = performance.now()
        const started = startedIn(envelope)
        if (started === undefined) continue
        // Not awaited: in a burst, each start gets its answer as soon as possible.
        void floorClients.containers.get({ id: started.id }, inNamespace(started.namespace)).then(
          () => {
            floor.set(started.displayId, performance.now() - at)
            const waiter = waiting.get(started.displayId)
            if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.void)
          },
          () => undefined
        )
      }
    })()
    floorLoop.catch(() => undefined)
    // Let both subscriptions get going before anything happens.
    yield* Effect.sleep("100 millis")

    /**
     * Starts one container, in one of the Watcher's namespaces or in the floor's, and waits until
     * the Watcher announced it or the floor got its answer; returns its display ID.
     */
    const startAndAwait = (index: number, forFloor: boolean) =>
      Effect.gen(function*() {
        const namespace = forFloor ? floorNamespace : benchNamespaces[index % benchNamespaces.length]!
        const displayId = `${namespace}/ev-${index}-${scene.run}`
        const done = yield* Deferred.make<void>()
        waiting.set(displayId, done)
        yield* startContainer(scene, index, namespace, "ev")
        scene.extra++
        yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))
        return displayId
      })

    // Isolated starts, alternating: the Watcher's, the floor's, the Watcher's ...
    counts.clear()
    arrivals.length = 0
    const isolated: Array<string> = []
    const isolatedForFloor: Array<string> = []
    for (let i = 0; i < 2 * settings.isolated; i++) {
      const forFloor = i % 2 === 1
      const id = yield* startAndAwait(i, forFloor)
      ;(forFloor ? isolatedForFloor : isolated).push(id)
    }
    const isolatedCounts = new Map(counts)
    const isolatedArrivals = startArrivals(arrivals)

    // Bursts: the Watcher's, then the floor's.
    counts.clear()
    arrivals.length = 0
    const burstBase = 2 * settings.isolated
    const burst = yield* Effect.forEach(
      Array.from({ length: settings.burst }, (_, i) => burstBase + i),
      (index) => startAndAwait(index, false),
      { concurrency: settings.burstConcurrency }
    )
    const burstCounts = new Map(counts)
    const burstArrivals = startArrivals(arrivals)
    const burstForFloor = yield* Effect.forEach(
      Array.from({ length: settings.burst }, (_, i) => burstBase + settings.burst + i),
      (index) => startAndAwait(index, true),
      { concurrency: settings.burstConcurrency }
    )

    const latencies = (ids: ReadonlyArray<string>, arrived: ReadonlyMap<string, number>) =>
      summarize(ids.flatMap((id) => {
        const from = arrived.get(id)
        const to = announced.get(id)
        return from === undefined || to === undefined ? [] : [to - from]
      }))
    const floorOf = (ids: ReadonlyArray<string>) =>
      summarize(ids.flatMap((id) => floor.has(id) ? [floor.get(id)!] : []))
    /** Time between two stages over the isolated starts. */
    const between = (from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>) =>
      summarize(isolated.flatMap((id) => {
        const a = from.get(id)
        const b = to.get(id)
        return a === undefined || b === undefined ? [] : [b - a]
      }))
    const isolatedLatency = latencies(isolated, isolatedArrivals)
    const isolatedFloor = floorOf(isolatedForFloor)
    const burstLatency = latencies(burst, burstArrivals)
    const burstFloor = floorOf(burstForFloor)
    const resolve = between(stages.resolving, stages.resolved)
    // The Watcher's own share of each event: its latency minus the time its RPC took.
    const ownShare = summarize(isolated.flatMap((id) => {
      const from = isolatedArrivals.get(id)
      const to = announced.get(id)
      const a = stages.resolving.get(id)
      const b = stages.resolved.get(id)
      return from === undefined || to === undefined || a === undefined || b === undefined ? [] : [to - from - (b - a)]
    }))
    const rpcs = (c: ReadonlyMap<string, number>) => totalCount(new Map([...c].filter(([k]) => !k.startsWith("Events."))))
    const perStart = (c: ReadonlyMap<string, number>, n: number) => n === 0 ? NaN : rpcs(c) / n
    const idleBareGet = summarize(idle.bareGet)

    result.rows.push(
      row("idle: bare Containers.Get", spread(idleBareGet)),
      row("idle: Containers.Get through ContainerdConnection.call", spread(summarize(idle.connectionGet)), {
        baseline: "bare Get",
        ratio: ratio(summarize(idle.connectionGet).median, idleBareGet.median)
      }),
      row("idle: bare Version", spread(summarize(idle.bareVersion))),
      row(`isolated starts (${isolatedForFloor.length}), bare floor: arrival -> bare Containers.Get answered`, spread(isolatedFloor)),
      row(`isolated starts (${isolated.length}), Watcher: arrival -> announced Started`, spread(isolatedLatency), {
        baseline: "bare floor",
        ratio: ratio(isolatedLatency.median, isolatedFloor.median),
        target: "<= 1.5x one bare unary RPC",
        verdict: verdict(isolatedLatency.median <= 1.5 * isolatedFloor.median)
      }),
      row("  stage: arrival -> engine stream emits Started (decode, engine queue)", spread(between(isolatedArrivals, stages.emitted))),
      row("  stage: emitted -> Watcher calls resolveStarted (Watcher inbox, batch)", spread(between(stages.emitted, stages.resolving))),
      row("  stage: resolveStarted (one Containers.Get through the engine)", spread(resolve), {
        baseline: "bare floor",
        ratio: ratio(resolve.median, isolatedFloor.median)
      }),
      row("  stage: resolved -> subscriber receives Started (portfolio, PubSub)", spread(between(stages.resolved, announced))),
      row("  the Watcher's own share: latency minus its RPC", spread(ownShare), {
        baseline: "idle bare Get",
        ratio: ratio(ownShare.median, idleBareGet.median)
      }),
      row("isolated starts, Watcher, against an idle engine's bare Get instead", spread(isolatedLatency), {
        baseline: "idle bare Get",
        ratio: ratio(isolatedLatency.median, idleBareGet.median)
      }),
      row(`burst (${burstForFloor.length} starts, ${settings.burstConcurrency} \`ctr run\` at once), bare floor`, spread(burstFloor)),
      row(`burst (${burst.length} starts), Watcher: arrival -> announced Started`, spread(burstLatency), {
        baseline: "bare floor",
        ratio: ratio(burstLatency.median, burstFloor.median)
      }),
      row(
        "RPCs per start event, isolated",
        `${perStart(isolatedCounts, isolated.length).toFixed(2)} (${describeCounts(isolatedCounts)})`,
        { target: "2 (Get + Tasks.Get)", verdict: verdict(rpcs(isolatedCounts) === 2 * isolated.length) }
      ),
      row(
        "RPCs per start event, burst",
        `${perStart(burstCounts, burst.length).toFixed(2)} (${describeCounts(burstCounts)})`,
        { target: "2 (Get + Tasks.Get)", verdict: verdict(rpcs(burstCounts) === 2 * burst.length) }
      )
    )
    result.notes.push(
      "Latency: from the moment connect yields the decoded `/tasks/start` envelope on the Watcher's Events.Subscribe stream (an interceptor stamps it) to the moment a `watcher.events` subscriber receives the resulting `Started` (the portfolio is set before the event is published). In between: the engine's decoding, the Watcher's queue, one Containers.Get through the engine, the portfolio update, the PubSub.",
      `Bare floor: a bare connect-es client on its own connection calls Containers.Get the moment a \`/tasks/start\` envelope of namespace ${floorNamespace} arrives (arrival to answer); the Watcher ignores that namespace. Isolated starts alternate between the Watcher's namespaces and the floor's (${settings.isolated} each); the floor's burst follows the Watcher's.`,
      "Stages: the Watcher runs on the engine wrapped to stamp its event stream and resolveStarted (bench instrumentation, a few microseconds per event); stage medians need not add up to the total's median.",
      "RPC counts are taken on the Watcher's own connection and exclude the Events.* calls of its subscription (none are made after `ready` anyway).",
      `Event latencies found for ${isolatedLatency.n} of ${isolated.length} isolated and ${burstLatency.n} of ${burst.length} burst starts; bare floor for ${isolatedFloor.n} of ${isolatedForFloor.length} and ${burstFloor.n} of ${burstForFloor.length}.`
    )
    return result
  }))
