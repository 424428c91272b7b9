/**
 * The Docker Engine API: initial sync and per-event cost on a private dockerd (DockerSandbox), and
 * the requests a sync and a start cost on a private Podman service (PodmanSandbox).
 *
 * Sync, at each N (containers from the sandbox's busybox image, created and started through the
 * API, 8 at a time), every contender on its own warm connection, taking turns within each round:
 * - list alone: the bare list request (`GET /containers/json`, alive filter), what the rest costs;
 * - floor: the requests of DockerEngine's list issued bare (`node:http` on the socket, own
 *   keep-alive agent, JSON.parse only): the list, then one inspect per container, 8 at a time;
 * - live floor: what a gap-free sync must do first — `/info` for the daemon's clock, `/events`
 *   from that moment with the same filters, until its headers arrive — then the floor: the same
 *   requests the Watcher issues;
 * - engine.list: DockerEngine's list (its requests, then Container values);
 * - Watcher ready: a new Watcher on the engine, from building its layer until `ready` completes;
 * - dockerode: listContainers with the same filter, then inspect of each, 8 at a time;
 * - shell: `docker ps -q | xargs docker inspect` through `sh -c`, DOCKER_HOST on the sandbox.
 *
 * Requests are counted on the engine's own HttpClient (a counting layer over UnixSocketHttpClient).
 * A Docker list carries no PIDs, so a sync costs the list plus one inspect per container (1 + N,
 * the least the API allows); Podman's own list carries them (1).
 *
 * Per-event cost, with the N containers still alive: containers started one at a time (isolated)
 * and several at once (burst), alternating between the Watcher's and the bare floor's. The floor
 * is one bare inspect issued the moment a `start` line arrives on a bare event stream of its own,
 * filtered server-side to the floor's containers (label `bench.role=floor`); the Watcher's event
 * stream is narrowed the same way to its own (`bench.role=watcher`, a filter added to its request
 * by the bench's HttpClient layer), so that neither ever sees the other's starts. Arrival is
 * stamped as the socket client hands over the chunk (the floor: `node:http`'s data event; the
 * Watcher: a TransformStream right after UnixSocketHttpClient), announcement where a subscriber of
 * `watcher.events` receives the `Started`.
 */
import { spawn } from "node:child_process"
import * as http from "node:http"
import * as path from "node:path"
import process from "node:process"
import { Context, Deferred, Effect, Layer, Scope, Stream } from "effect"
import { HttpClient } from "effect/http"
import { DockerConnection, DockerEngine } from "../src/docker/index.ts"
import { eventFilters, sinceParameter } from "../src/docker/internal/events.ts"
import { EngineClient, type EngineClientShape } from "../src/EngineClient.ts"
import { DockerSandbox, PodmanSandbox } from "../src/testing/index.ts"
import * as Watcher from "../src/Watcher.ts"
import {
  aliveFilter,
  type BareDocker,
  bareDocker,
  bareList,
  bareListOnly,
  type Chunk,
  createContainer,
  describeCounts,
  forEachLimited,
  type Instrumentation,
  instrumentedHttpClient,
  isAlive,
  startArrivals,
  startCreated,
  totalCount,
  withQuery
} from "./lib/docker.ts"
import { availableMemory } from "./lib/machine.ts"
import { ms, ratio, spread, summarize, type Summary } from "./lib/stats.ts"
import { row, type Section, section, verdict } from "./lib/table.ts"

export interface DockerSettings {
  readonly sizes: ReadonlyArray<number>
  readonly rounds: (n: number) => number
  readonly warmupRounds: number
  /** Pause after starting containers, before timing. */
  readonly settleMillis: number
  /** Containers created and started at once through the API. */
  readonly startConcurrency: number
  readonly events: {
    readonly isolated: number
    readonly burst: number
    readonly burstConcurrency: number
    readonly idleCalls: number
  }
  readonly podman: {
    /** Containers alive on Podman for its sync rows. */
    readonly containers: number
    readonly rounds: number
    /** Containers started one at a time while a Watcher runs on Podman. */
    readonly starts: number
  }
}

/** What the section found out about the engines, for the report's machine table. */
export type EngineFacts = Map<string, string>

/** DockerEngine's default list concurrency, used by every contender that inspects. */
const inspectConcurrency = 8
/** Keep this much memory free whatever happens: the machine runs other things too. */
const reserveBytes = 2 * 2 ** 30
const initialGuessBytes = 16 * 2 ** 20

// -------------------------------------------------------------------------------------------------
// Containers
// -------------------------------------------------------------------------------------------------

interface DockerScene {
  readonly sandbox: DockerSandbox.DockerSandboxShape
  /** The client that creates and starts containers (its own connection). */
  readonly driver: BareDocker
  readonly run: string
  alive: number
  setupSeconds: number
  memoryUsed: number
  memoryMeasuredFor: number
  bytesPerContainer: number
}

const labelsFor = (index: number, role: string): Record<string, string> => ({
  "com.docker.compose.project": `proj-${index % 25}`,
  "bench.index": String(index),
  "bench.role": role
})

interface Growth {
  readonly requested: number
  readonly reached: number
  readonly seconds: number
  readonly limitedBy?: string
}

/** Creates and starts containers through the API until `target` are alive, in batches with a memory check between. */
const growTo = (scene: DockerScene, target: number, concurrency: number): Effect.Effect<Growth> =>
  Effect.promise(async () => {
    const start = performance.now()
    let limitedBy: string | undefined
    while (scene.alive < target) {
      const before = await availableMemory()
      const affordable = Math.floor((before - reserveBytes) / scene.bytesPerContainer)
      const batch = Math.min(target - scene.alive, 50, affordable)
      if (batch <= 0) {
        limitedBy = `memory: ${(before / 2 ** 30).toFixed(1)} GiB available, ` +
          `${(scene.bytesPerContainer / 2 ** 20).toFixed(1)} MiB per container, ${reserveBytes / 2 ** 30} GiB kept free`
        break
      }
      const first = scene.alive
      await forEachLimited(Array.from({ length: batch }, (_, i) => first + i), concurrency, async (index) => {
        const id = await createContainer(scene.driver, {
          image: scene.sandbox.image,
          name: `svc-${index}-${scene.run}`,
          labels: labelsFor(index, "sync")
        })
        await startCreated(scene.driver, id)
      })
      scene.alive += batch
      const after = await availableMemory()
      scene.memoryUsed += before - after
      scene.memoryMeasuredFor += batch
      scene.bytesPerContainer = Math.max(initialGuessBytes / 2, (before - after) / batch, scene.bytesPerContainer * 0.5)
    }
    const seconds = (performance.now() - start) / 1000
    scene.setupSeconds += seconds
    return limitedBy === undefined
      ? { requested: target, reached: scene.alive, seconds }
      : { requested: target, reached: scene.alive, seconds, limitedBy }
  })

// -------------------------------------------------------------------------------------------------
// Clients
// -------------------------------------------------------------------------------------------------

/** A DockerEngine on its own keep-alive connection pool, over the instrumented HttpClient. */
const instrumentedEngine = (
  socketPath: string,
  flavor: "docker" | "podman",
  instrumentation: Instrumentation
): Effect.Effect<EngineClientShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new http.Agent({ keepAlive: true })),
      (agent) => Effect.sync(() => agent.destroy())
    )
    const transport = Layer.succeed(HttpClient.HttpClient, instrumentedHttpClient(socketPath, agent, instrumentation))
    const engine = DockerEngine.layer().pipe(
      Layer.provide(DockerConnection.layerHttpClient({ address: socketPath, flavor }).pipe(Layer.provide(transport)))
    )
    return Context.get(yield* Layer.build(engine), EngineClient)
  })

const acquireBare = (socketPath: string) =>
  Effect.acquireRelease(Effect.promise(() => bareDocker(socketPath)), (client) => Effect.sync(client.close))

/**
 * The bare live floor: the daemon's clock, the event stream from then on with the engine's own
 * filters (until its headers arrive), the list requests; then the stream is closed.
 */
const bareLiveSync = async (client: BareDocker): Promise<number> => {
  const since = sinceParameter((await client.getJson("/info")).SystemTime)
  if (since === undefined) throw new Error("the daemon's clock cannot be read")
  const close = await client.openStream(withQuery("/events", { since, filters: eventFilters }), () => undefined)
  try {
    return await bareList(client, inspectConcurrency)
  } finally {
    close()
  }
}

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command line through `sh -c` to its end. */
const shell = (command: string, env: Record<string, string>): Promise<Finished> =>
  new Promise((resolve) => {
    const child = spawn("sh", ["-c", command], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } })
    const stdout: Array<Buffer> = []
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => stderr += chunk.toString())
    child.on("error", (error) => stderr += String(error))
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr }))
  })

/** Loads dockerode lazily: a failure to load it shows in this section only. */
const dockerodeClient = async (socketPath: string, prefix: string) => {
  const { default: Dockerode } = await import("dockerode")
  // Its default transport: node:http with the socket path over Node's global keep-alive agent.
  const docker = new Dockerode({ socketPath, version: prefix.slice(1) })
  return async (): Promise<number> => {
    const summaries = await docker.listContainers({ filters: { status: ["running", "paused"] } })
    const inspected = await forEachLimited(summaries, inspectConcurrency, (summary) => docker.getContainer(summary.Id).inspect())
    return inspected.filter(isAlive).length
  }
}

// -------------------------------------------------------------------------------------------------
// Sync
// -------------------------------------------------------------------------------------------------

type Contender = "watcher" | "listOnly" | "floor" | "liveFloor" | "list" | "dockerode" | "shell"

interface SyncMeasured {
  readonly n: number
  readonly samples: Readonly<Record<Contender, Summary>>
  /** Requests of engine.list (the last round's). */
  readonly listRequests: ReadonlyMap<string, number>
  /** Requests of the first Watcher sync on a new connection, and of a later one. */
  readonly coldWatcherRequests: ReadonlyMap<string, number>
  readonly watcherRequests: ReadonlyMap<string, number>
  readonly breakdown: Readonly<Record<"toSubscribe" | "subscribe" | "toList" | "list" | "toReady", Summary>>
  readonly rounds: number
}

/** A new Watcher on `engine`, stamped where its subscription and list start and end; the time to `ready`. */
const watcherReady = (engine: EngineClientShape, stamps: Array<number>) =>
  Effect.gen(function*() {
    const stamp = Effect.sync(() => stamps.push(performance.now()))
    const stamped: EngineClientShape = {
      ...engine,
      openSubscription: Effect.andThen(stamp, Effect.tap(engine.openSubscription, () => stamp)),
      list: Effect.andThen(stamp, Effect.tap(engine.list, () => stamp))
    }
    const start = performance.now()
    const millis = yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(Watcher.layer())
      yield* Context.get(context, Watcher.Watcher).ready
      return performance.now() - start
    }).pipe(Effect.provide(Layer.succeed(EngineClient, stamped))))
    return { start, millis }
  })

const measureSync = (
  socketPath: string,
  directory: string,
  n: number,
  settings: DockerSettings
): Effect.Effect<SyncMeasured, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const counts = new Map<string, number>()
    // A new engine per size, so that the first Watcher sync shows what a new connection costs.
    const engine = yield* instrumentedEngine(socketPath, "docker", { counts })
    const bare = yield* acquireBare(socketPath)
    const dockerode = yield* Effect.promise(() => dockerodeClient(socketPath, bare.prefix))
    const cliEnv = { DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: path.join(directory, "cli") }
    const samples: Record<Contender, Array<number>> = {
      watcher: [],
      listOnly: [],
      floor: [],
      liveFloor: [],
      list: [],
      dockerode: [],
      shell: []
    }
    const breakdown = {
      toSubscribe: [] as Array<number>,
      subscribe: [] as Array<number>,
      toList: [] as Array<number>,
      list: [] as Array<number>,
      toReady: [] as Array<number>
    }
    let listRequests = new Map<string, number>()
    let watcherRequests = new Map<string, number>()
    let coldWatcherRequests: Map<string, number> | undefined

    const expect = (what: string, alive: number) =>
      alive === n ? Effect.void : Effect.die(new Error(`${what} found ${alive} alive containers, expected ${n}`))
    const timed = (what: string, run: () => Promise<number>) =>
      Effect.gen(function*() {
        const start = performance.now()
        const alive = yield* Effect.promise(run)
        const millis = performance.now() - start
        yield* expect(what, alive)
        return millis
      })

    const contenders: ReadonlyArray<readonly [Contender, Effect.Effect<number, unknown>]> = [
      // First in the first round: its counts then include the new connection's ping.
      ["watcher", Effect.gen(function*() {
        counts.clear()
        const stamps: Array<number> = []
        const { start, millis } = yield* watcherReady(engine, stamps)
        watcherRequests = new Map(counts)
        if (coldWatcherRequests === undefined) coldWatcherRequests = watcherRequests
        const [subscribing, live, listing, listed] = stamps
        if (listed !== undefined) {
          breakdown.toSubscribe.push(subscribing! - start)
          breakdown.subscribe.push(live! - subscribing!)
          breakdown.toList.push(listing! - live!)
          breakdown.list.push(listed - listing!)
          breakdown.toReady.push(start + millis - listed)
        }
        return millis
      })],
      ["listOnly", timed("the list alone", () => bareListOnly(bare).then((ids) => ids.length))],
      ["floor", timed("the bare floor", () => bareList(bare, inspectConcurrency))],
      ["liveFloor", timed("the bare live floor", () => bareLiveSync(bare))],
      ["list", Effect.gen(function*() {
        counts.clear()
        const start = performance.now()
        const listed = yield* engine.list
        const millis = performance.now() - start
        listRequests = new Map(counts)
        yield* expect("engine.list", listed.length)
        return millis
      })],
      ["dockerode", timed("dockerode", dockerode)],
      ["shell", timed("docker ps -q | xargs docker inspect", async () => {
        const finished = await shell("docker ps -q | xargs docker inspect", cliEnv)
        if (finished.code !== 0) throw new Error(`the docker command line failed (${finished.code}): ${finished.stderr.slice(0, 500)}`)
        return (JSON.parse(finished.stdout) as Array<unknown>).filter(isAlive).length
      })]
    ]

    const rounds = settings.rounds(n)
    for (let round = 0; round < settings.warmupRounds + rounds; round++) {
      for (let k = 0; k < contenders.length; k++) {
        const [name, measure] = contenders[(round + k) % contenders.length]!
        const millis = yield* measure
        if (round >= settings.warmupRounds) samples[name].push(millis)
      }
    }
    const summaries = Object.fromEntries(
      Object.entries(samples).map(([name, values]) => [name, summarize(values)])
    ) as Record<Contender, Summary>
    return {
      n,
      samples: summaries,
      listRequests,
      coldWatcherRequests: coldWatcherRequests ?? new Map(),
      watcherRequests,
      breakdown: {
        toSubscribe: summarize(breakdown.toSubscribe),
        subscribe: summarize(breakdown.subscribe),
        toList: summarize(breakdown.toList),
        list: summarize(breakdown.list),
        toReady: summarize(breakdown.toReady)
      },
      rounds
    }
  }))

const listPart = (counts: ReadonlyMap<string, number>): number =>
  (counts.get("GET /containers/json") ?? 0) + (counts.get("GET /containers/{id}/json") ?? 0) +
  (counts.get("GET /libpod/containers/json") ?? 0)

const syncRows = (result: Section, m: SyncMeasured) => {
  const tag = `N=${m.n}`
  const s = m.samples
  const vsFloor = (summary: Summary) => ({ baseline: "floor", ratio: ratio(summary.median, s.floor.median) })
  const listGoal = 1 + m.n
  const subscription = totalCount(m.watcherRequests) - listPart(m.watcherRequests)
  result.rows.push(
    row(`${tag} list request alone (bare)`, spread(s.listOnly), vsFloor(s.listOnly)),
    row(`${tag} floor: bare list + ${m.n} inspects`, spread(s.floor)),
    row(
      `${tag} what the missing PIDs cost: ${m.n} inspects`,
      `${ms(s.floor.median - s.listOnly.median)} of the floor's ${ms(s.floor.median)} (medians: floor minus list alone)`
    ),
    row(`${tag} live floor: bare /info + /events headers + list + inspects`, spread(s.liveFloor), vsFloor(s.liveFloor)),
    row(`${tag} engine.list`, spread(s.list), vsFloor(s.list)),
    row(`${tag} dockerode: listContainers + inspect of each`, spread(s.dockerode), vsFloor(s.dockerode)),
    row(`${tag} shell: docker ps -q | xargs docker inspect`, spread(s.shell), vsFloor(s.shell)),
    row(`${tag} Watcher ready`, spread(s.watcher), vsFloor(s.watcher)),
    row(`${tag} Watcher ready vs live floor`, spread(s.watcher), {
      baseline: "live floor",
      ratio: ratio(s.watcher.median, s.liveFloor.median)
    }),
    row(`${tag} Watcher ready vs dockerode`, spread(s.watcher), {
      baseline: "dockerode",
      ratio: ratio(s.watcher.median, s.dockerode.median)
    }),
    row(`${tag} Watcher ready vs shell`, spread(s.watcher), { baseline: "shell", ratio: ratio(s.watcher.median, s.shell.median) }),
    row(
      `${tag} Watcher ready, where the time goes (medians)`,
      `start ${ms(m.breakdown.toSubscribe.median)} + subscribe until live ${ms(m.breakdown.subscribe.median)} + ` +
        `${ms(m.breakdown.toList.median)} + list ${ms(m.breakdown.list.median)} + portfolio and ready ${ms(m.breakdown.toReady.median)}`
    ),
    row(`${tag} requests of engine.list`, `${totalCount(m.listRequests)} (${describeCounts(m.listRequests)})`, {
      target: `1 + N = ${listGoal} (a list has no PIDs)`,
      verdict: verdict(totalCount(m.listRequests) === listGoal)
    }),
    row(
      `${tag} requests of a Watcher sync`,
      `${totalCount(m.watcherRequests)}: list ${listPart(m.watcherRequests)} + subscription ${subscription} ` +
        `(${describeCounts(m.watcherRequests)}); on a new connection ${totalCount(m.coldWatcherRequests)} (+ GET /_ping)`,
      {
        target: `list: ${listGoal}, subscription: 2`,
        verdict: verdict(listPart(m.watcherRequests) === listGoal && subscription === 2)
      }
    )
  )
}

// -------------------------------------------------------------------------------------------------
// Per-event cost
// -------------------------------------------------------------------------------------------------

/** When a start reached each stage of the Watcher, by container ID. */
interface Stages {
  readonly resolving: Map<string, number>
  readonly resolved: Map<string, number>
}

const stampedResolve = (engine: EngineClientShape, stages: Stages): EngineClientShape => {
  const stampOnce = (map: Map<string, number>, id: string) => {
    if (!map.has(id)) map.set(id, performance.now())
  }
  return {
    ...engine,
    resolveStarted: (event) =>
      Effect.sync(() => stampOnce(stages.resolving, event.id)).pipe(
        Effect.andThen(engine.resolveStarted(event)),
        Effect.tap(() => Effect.sync(() => stampOnce(stages.resolved, event.id)))
      )
  }
}

interface WatchedEngine {
  readonly counts: Map<string, number>
  readonly arrivals: Array<Chunk>
  readonly stages: Stages
  /** Announcement of each `Started`, by container ID. */
  readonly announced: Map<string, number>
  /** Called with a container ID when the Watcher announced it. */
  readonly onAnnounced: (id: string) => void
}

/** A Watcher on an instrumented engine, ready, with a subscriber stamping announced starts. */
const watchedEngine = (
  socketPath: string,
  flavor: "docker" | "podman",
  eventLabel: string | undefined,
  onAnnounced: (id: string) => void
): Effect.Effect<WatchedEngine, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const counts = new Map<string, number>()
    const arrivals: Array<Chunk> = []
    const stages: Stages = { resolving: new Map(), resolved: new Map() }
    const engine = yield* instrumentedEngine(socketPath, flavor, { counts, arrivals, eventLabel })
    const watcher = Context.get(
      yield* Layer.build(Watcher.layer().pipe(Layer.provide(Layer.succeed(EngineClient, stampedResolve(engine, stages))))),
      Watcher.Watcher
    )
    yield* watcher.ready
    const announced = new Map<string, number>()
    yield* watcher.events.pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          if (event._tag !== "Started") return
          if (!announced.has(event.container.id)) announced.set(event.container.id, performance.now())
          onAnnounced(event.container.id)
        })
      ),
      Effect.forkScoped
    )
    return { counts, arrivals, stages, announced, onAnnounced }
  })

/** Requests other than the event stream itself. */
const requestsBeside = (counts: ReadonlyMap<string, number>) =>
  new Map([...counts].filter(([key]) => key !== "GET /events"))

const eventSection = (scene: DockerScene, result: Section, settings: DockerSettings["events"]) =>
  Effect.scoped(Effect.gen(function*() {
    const socketPath = scene.sandbox.socketPath
    const waiting = new Map<string, Deferred.Deferred<void>>()
    const release = (id: string) => {
      const waiter = waiting.get(id)
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.void)
    }

    // Idle baselines first, on a container of our own, while nothing else happens on the daemon.
    const probe = yield* Effect.promise(() =>
      createContainer(scene.driver, { image: scene.sandbox.image, name: `probe-${scene.run}`, labels: labelsFor(0, "probe") })
    )
    yield* Effect.promise(() => startCreated(scene.driver, probe))
    const bare = yield* acquireBare(socketPath)
    const idleEngine = yield* instrumentedEngine(socketPath, "docker", { counts: new Map() })
    const idle = { bare: [] as Array<number>, engine: [] as Array<number>, info: [] as Array<number> }
    for (let i = 0; i < settings.idleCalls + 20; i++) {
      let start = performance.now()
      yield* Effect.promise(() => bare.getJson(`/containers/${probe}/json`))
      const bareMillis = performance.now() - start
      start = performance.now()
      yield* idleEngine.inspect(probe)
      const engineMillis = performance.now() - start
      if (i >= 20) {
        idle.bare.push(bareMillis)
        idle.engine.push(engineMillis)
      }
    }
    // The daemon's clock, which every subscription reads first (fewer calls: it is slow).
    for (let i = 0; i < Math.ceil(settings.idleCalls / 10) + 2; i++) {
      const start = performance.now()
      yield* Effect.promise(() => bare.getJson("/info"))
      if (i >= 2) idle.info.push(performance.now() - start)
    }

    const watched = yield* watchedEngine(socketPath, "docker", "bench.role=watcher", release)

    // The bare event floor: its own connection and event stream, one inspect per start line.
    const floor = new Map<string, number>()
    const floorClient = yield* acquireBare(socketPath)
    let pending = ""
    const closeFloor = yield* Effect.promise(() =>
      floorClient.openStream(
        withQuery("/events", { filters: JSON.stringify({ type: ["container"], event: ["start"], label: ["bench.role=floor"] }) }),
        (chunk) => {
          const at = performance.now()
          pending += chunk.toString()
          const lines = pending.split("\n")
          pending = lines.pop() ?? ""
          for (const line of lines) {
            if (line.trim() === "") continue
            const event = JSON.parse(line)
            const id: string = event.Actor?.ID ?? event.id
            if ((event.Action ?? event.status) !== "start") continue
            // Not awaited: in a burst, each start gets its answer as soon as possible.
            floorClient.getJson(`/containers/${id}/json`).then(() => {
              if (!floor.has(id)) floor.set(id, performance.now() - at)
              release(id)
            }, () => undefined)
          }
        }
      )
    )
    yield* Effect.addFinalizer(() => Effect.sync(closeFloor))

    // As many event containers as memory allows (all of them, normally).
    const wanted = 1 + 2 * settings.isolated + 2 * settings.burst
    const affordable = Math.floor(((yield* Effect.promise(availableMemory)) - reserveBytes) / scene.bytesPerContainer)
    const scale = Math.min(1, affordable / wanted)
    const isolatedCount = Math.floor(settings.isolated * scale)
    const burstCount = Math.floor(settings.burst * scale)
    if (scale < 1) {
      result.notes.push(`Per-event cost: memory allowed ${isolatedCount} isolated and ${burstCount} burst starts of each kind instead of ${settings.isolated} and ${settings.burst}.`)
    }

    // Every container is created first, untimed: a measured start is only the start.
    const plan = [
      ...Array.from({ length: 2 * isolatedCount }, (_, i) => ({ phase: "isolated", forFloor: i % 2 === 1 })),
      ...Array.from({ length: burstCount }, () => ({ phase: "burst", forFloor: false })),
      ...Array.from({ length: burstCount }, () => ({ phase: "burst", forFloor: true }))
    ]
    const created = yield* Effect.promise(() =>
      forEachLimited(plan.map((step, index) => ({ ...step, index })), 8, async (step) => {
        const role = step.forFloor ? "floor" : "watcher"
        const id = await createContainer(scene.driver, {
          image: scene.sandbox.image,
          name: `${role}-${step.index}-${scene.run}`,
          labels: labelsFor(step.index, role)
        })
        return { ...step, id }
      })
    )
    yield* Effect.sleep("100 millis")

    /** Starts a created container and waits until the Watcher announced it or the floor got its answer. */
    const startAndAwait = (id: string) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        waiting.set(id, done)
        yield* Effect.promise(() => startCreated(scene.driver, id))
        yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))
        return id
      })

    watched.counts.clear()
    watched.arrivals.length = 0
    const isolated = created.filter((c) => c.phase === "isolated")
    for (const container of isolated) yield* startAndAwait(container.id)
    const isolatedCounts = requestsBeside(watched.counts)
    const isolatedArrivals = startArrivals(watched.arrivals)

    watched.counts.clear()
    watched.arrivals.length = 0
    const burstWatcher = created.filter((c) => c.phase === "burst" && !c.forFloor).map((c) => c.id)
    const burstFloor = created.filter((c) => c.phase === "burst" && c.forFloor).map((c) => c.id)
    yield* Effect.forEach(burstWatcher, startAndAwait, { concurrency: settings.burstConcurrency, discard: true })
    const burstCounts = requestsBeside(watched.counts)
    const burstArrivals = startArrivals(watched.arrivals)
    yield* Effect.forEach(burstFloor, startAndAwait, { concurrency: settings.burstConcurrency, discard: true })
    scene.alive += 1 + created.length

    const isolatedWatcher = isolated.filter((c) => !c.forFloor).map((c) => c.id)
    const isolatedFloor = isolated.filter((c) => c.forFloor).map((c) => c.id)
    const latencies = (ids: ReadonlyArray<string>, arrived: ReadonlyMap<string, number>) =>
      summarize(ids.flatMap((id) => {
        const from = arrived.get(id)
        const to = watched.announced.get(id)
        return from === undefined || to === undefined ? [] : [to - from]
      }))
    const floorOf = (ids: ReadonlyArray<string>) => summarize(ids.flatMap((id) => floor.has(id) ? [floor.get(id)!] : []))
    const between = (from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>) =>
      summarize(isolatedWatcher.flatMap((id) => {
        const a = from.get(id)
        const b = to.get(id)
        return a === undefined || b === undefined ? [] : [b - a]
      }))
    const isolatedLatency = latencies(isolatedWatcher, isolatedArrivals)
    const isolatedFloorLatency = floorOf(isolatedFloor)
    const burstLatency = latencies(burstWatcher, burstArrivals)
    const burstFloorLatency = floorOf(burstFloor)
    const resolve = between(watched.stages.resolving, watched.stages.resolved)
    const ownShare = summarize(isolatedWatcher.flatMap((id) => {
      const from = isolatedArrivals.get(id)
      const to = watched.announced.get(id)
      const a = watched.stages.resolving.get(id)
      const b = watched.stages.resolved.get(id)
      return from === undefined || to === undefined || a === undefined || b === undefined ? [] : [to - from - (b - a)]
    }))
    const idleBare = summarize(idle.bare)
    const idleEngineSummary = summarize(idle.engine)
    const perStart = (counts: ReadonlyMap<string, number>, n: number) => n === 0 ? NaN : totalCount(counts) / n

    result.rows.push(
      row("idle: bare inspect", spread(idleBare)),
      row("idle: DockerEngine.inspect", spread(idleEngineSummary), {
        baseline: "bare inspect",
        ratio: ratio(idleEngineSummary.median, idleBare.median)
      }),
      row("idle: bare /info (the daemon's clock, read before every subscription)", spread(summarize(idle.info)), {
        baseline: "bare inspect",
        ratio: ratio(summarize(idle.info).median, idleBare.median)
      }),
      row(`isolated starts (${isolatedFloor.length}), bare floor: arrival -> bare inspect answered`, spread(isolatedFloorLatency)),
      row(`isolated starts (${isolatedWatcher.length}), Watcher: arrival -> announced Started`, spread(isolatedLatency), {
        baseline: "bare floor",
        ratio: ratio(isolatedLatency.median, isolatedFloorLatency.median),
        target: "<= 1.5x one bare inspect",
        verdict: verdict(isolatedLatency.median <= 1.5 * isolatedFloorLatency.median)
      }),
      row(
        "  stage: arrival -> Watcher calls resolveStarted (line decoding, engine queue, batch)",
        spread(between(isolatedArrivals, watched.stages.resolving))
      ),
      row("  stage: resolveStarted (one inspect through the engine)", spread(resolve), {
        baseline: "bare floor",
        ratio: ratio(resolve.median, isolatedFloorLatency.median)
      }),
      row("  stage: resolved -> subscriber receives Started (portfolio, PubSub)", spread(between(watched.stages.resolved, watched.announced))),
      row("  the Watcher's own share: latency minus its request", spread(ownShare), {
        baseline: "idle bare inspect",
        ratio: ratio(ownShare.median, idleBare.median)
      }),
      row(`burst (${burstFloor.length} starts, ${settings.burstConcurrency} at once), bare floor`, spread(burstFloorLatency)),
      row(`burst (${burstWatcher.length} starts), Watcher: arrival -> announced Started`, spread(burstLatency), {
        baseline: "bare floor",
        ratio: ratio(burstLatency.median, burstFloorLatency.median)
      }),
      row(
        "requests per start event, isolated",
        `${perStart(isolatedCounts, isolatedWatcher.length).toFixed(2)} (${describeCounts(isolatedCounts)})`,
        { target: "1 (one inspect)", verdict: verdict(totalCount(isolatedCounts) === isolatedWatcher.length) }
      ),
      row(
        "requests per start event, burst",
        `${perStart(burstCounts, burstWatcher.length).toFixed(2)} (${describeCounts(burstCounts)})`,
        { target: "1 (one inspect)", verdict: verdict(totalCount(burstCounts) === burstWatcher.length) }
      )
    )
    result.notes.push(
      `Per-event cost with ${scene.alive - created.length - 1} other containers alive: ${isolatedWatcher.length} isolated starts for the Watcher alternating with ${isolatedFloor.length} for the floor, then a burst of ${burstWatcher.length} for the Watcher and one of ${burstFloor.length} for the floor (${settings.burstConcurrency} \`POST /containers/{id}/start\` at once; every container created beforehand, untimed). Latencies found for ${isolatedLatency.n}/${isolatedWatcher.length} isolated and ${burstLatency.n}/${burstWatcher.length} burst Watcher starts, ${isolatedFloorLatency.n}/${isolatedFloor.length} and ${burstFloorLatency.n}/${burstFloor.length} floor starts.`,
      `Idle baselines: ${settings.idleCalls} inspects of one running container after 20 warm-up calls, bare and through DockerEngine.inspect, taking turns.`,
      "Requests per start event are counted on the Watcher's own HttpClient, without its event stream (opened before). The Watcher's event stream carries one filter more than DockerEngine asks for, `label=bench.role=watcher`, added by the bench's HttpClient layer, so that it never sees the floor's starts; the floor's stream is filtered to `bench.role=floor` the same way.",
      "Stages: the engine wrapped to stamp resolveStarted's start and end (bench instrumentation, microseconds); stage medians need not add up to the total's median."
    )
  }))

// -------------------------------------------------------------------------------------------------
// Podman
// -------------------------------------------------------------------------------------------------

const podmanSection = (result: Section, settings: DockerSettings["podman"], facts: EngineFacts, run: string) =>
  Effect.scoped(Effect.gen(function*() {
    const sandboxStart = performance.now()
    const sandbox = Context.get(yield* Layer.build(PodmanSandbox.layer()), PodmanSandbox.PodmanSandbox)
    const sandboxSeconds = (performance.now() - sandboxStart) / 1000
    const socketPath = sandbox.socketPath
    const bare = yield* acquireBare(socketPath)
    facts.set("podman", `${bare.server}, API ${bare.prefix.slice(2)}, private service`)
    const setupStart = performance.now()
    yield* Effect.forEach(
      Array.from({ length: settings.containers }, (_, i) => i),
      (i) => sandbox.run({ name: `pm-${i}-${run}`, labels: labelsFor(i, "sync") }),
      { concurrency: 4, discard: true }
    )
    const setupSeconds = (performance.now() - setupStart) / 1000
    const n = settings.containers

    const counts = new Map<string, number>()
    const engine = yield* instrumentedEngine(socketPath, "podman", { counts })
    const samples = { libpod: [] as Array<number>, compat: [] as Array<number>, watcher: [] as Array<number> }
    let watcherRequests = new Map<string, number>()
    let coldRequests: Map<string, number> | undefined
    const libpodList = async () =>
      (await bare.getJson(withQuery("/libpod/containers/json", { filters: aliveFilter })) ?? []).filter((c: any) =>
        (c.Pid ?? 0) > 0 && (c.State === "running" || c.State === "paused")
      ).length
    const contenders: ReadonlyArray<readonly [keyof typeof samples, Effect.Effect<number, unknown>]> = [
      ["watcher", Effect.gen(function*() {
        counts.clear()
        const { millis } = yield* watcherReady(engine, [])
        watcherRequests = new Map(counts)
        if (coldRequests === undefined) coldRequests = watcherRequests
        return millis
      })],
      ["libpod", Effect.promise(async () => {
        const start = performance.now()
        const alive = await libpodList()
        if (alive !== n) throw new Error(`the libpod list found ${alive} alive containers, expected ${n}`)
        return performance.now() - start
      })],
      ["compat", Effect.promise(async () => {
        const start = performance.now()
        const alive = await bareList(bare, inspectConcurrency)
        if (alive !== n) throw new Error(`the compat list found ${alive} alive containers, expected ${n}`)
        return performance.now() - start
      })]
    ]
    for (let round = 0; round < 1 + settings.rounds; round++) {
      for (let k = 0; k < contenders.length; k++) {
        const [name, measure] = contenders[(round + k) % contenders.length]!
        const millis = yield* measure
        if (round >= 1) samples[name].push(millis)
      }
    }
    const info: Array<number> = []
    for (let i = 0; i < 2 + Math.max(2, Math.ceil(settings.rounds / 2)); i++) {
      const start = performance.now()
      yield* Effect.promise(() => bare.getJson("/info"))
      if (i >= 2) info.push(performance.now() - start)
    }
    const libpod = summarize(samples.libpod)
    const compat = summarize(samples.compat)
    const watcher = summarize(samples.watcher)
    const subscription = totalCount(watcherRequests) - listPart(watcherRequests)
    const tag = `Podman N=${n}`
    result.rows.push(
      row(`${tag} floor: bare libpod list (PIDs included, 1 request)`, spread(libpod)),
      row(`${tag} bare compat list + ${n} inspects`, spread(compat), { baseline: "libpod floor", ratio: ratio(compat.median, libpod.median) }),
      row(`${tag} Watcher ready`, spread(watcher), { baseline: "libpod floor", ratio: ratio(watcher.median, libpod.median) }),
      row(`Podman: bare /info (the daemon's clock, read before every subscription)`, spread(summarize(info)), {
        baseline: "libpod floor",
        ratio: ratio(summarize(info).median, libpod.median)
      }),
      row(
        `${tag} requests of a Watcher sync`,
        `${totalCount(watcherRequests)}: list ${listPart(watcherRequests)} + subscription ${subscription} ` +
          `(${describeCounts(watcherRequests)}); on a new connection ${totalCount(coldRequests ?? new Map())} (+ GET /_ping)`,
        { target: "list: 1, subscription: 2", verdict: verdict(listPart(watcherRequests) === 1 && subscription === 2) }
      )
    )

    // Starts while a Watcher runs: the requests each costs (latency for information only).
    const waiting = new Map<string, Deferred.Deferred<void>>()
    const watched = yield* watchedEngine(socketPath, "podman", undefined, (id) => {
      const waiter = waiting.get(id)
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.void)
    })
    watched.counts.clear()
    watched.arrivals.length = 0
    const started: Array<string> = []
    for (let i = 0; i < settings.starts; i++) {
      // Started by the command line on its own connections: only the Watcher's requests are counted.
      const { id } = yield* sandbox.run({ name: `pm-ev-${i}-${run}`, labels: labelsFor(i, "watcher") })
      const done = yield* Deferred.make<void>()
      waiting.set(id, done)
      if (!watched.announced.has(id)) yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))
      started.push(id)
    }
    const startCounts = requestsBeside(watched.counts)
    const arrivals = startArrivals(watched.arrivals)
    const latency = summarize(started.flatMap((id) => {
      const from = arrivals.get(id)
      const to = watched.announced.get(id)
      return from === undefined || to === undefined ? [] : [to - from]
    }))
    result.rows.push(
      row(
        `Podman: requests per start event (${started.length} starts)`,
        `${(totalCount(startCounts) / Math.max(1, started.length)).toFixed(2)} (${describeCounts(startCounts)})`,
        { target: "1 (one inspect)", verdict: verdict(started.length > 0 && totalCount(startCounts) === started.length) }
      ),
      row("Podman: arrival -> announced Started", spread(latency))
    )
    result.notes.push(
      `Podman: a private \`podman system service\` (sandbox started in ${sandboxSeconds.toFixed(1)} s, ${sandbox.directory}); ${n} containers started by \`docker run\` (4 at a time) in ${setupSeconds.toFixed(1)} s; ${settings.rounds} measured rounds after one warm-up, in rotating order. DockerEngine lists with Podman's own \`/libpod/containers/json\`, which carries the PIDs: 1 request, against 1 + N through the compat list.`
    )
  }))

// -------------------------------------------------------------------------------------------------
// The section
// -------------------------------------------------------------------------------------------------

export const run = (settings: DockerSettings, facts: EngineFacts): Effect.Effect<Section, unknown> =>
  Effect.gen(function*() {
    const result = section("5. Docker Engine API (private dockerd and Podman; ms: median (min–p90–max))")
    const runId = Math.random().toString(36).slice(2, 8)
    const memoryBefore = yield* Effect.promise(availableMemory)
    const scope = yield* Scope.make()
    const teardown = yield* Effect.gen(function*() {
      const sandboxStart = performance.now()
      const sandbox = Context.get(yield* Layer.buildWithScope(DockerSandbox.layer(), scope), DockerSandbox.DockerSandbox)
      const sandboxSeconds = (performance.now() - sandboxStart) / 1000
      const driver = yield* Effect.acquireRelease(Effect.promise(() => bareDocker(sandbox.socketPath)), (c) => Effect.sync(c.close)).pipe(
        Scope.provide(scope)
      )
      const cli = yield* Effect.promise(() =>
        shell("docker version --format '{{.Client.Version}}'", {
          DOCKER_HOST: `unix://${sandbox.socketPath}`,
          DOCKER_CONFIG: path.join(sandbox.directory, "cli")
        })
      )
      facts.set("dockerd", `${driver.server}, API ${driver.prefix.slice(2)}, private instance on a private containerd`)
      facts.set("docker CLI", cli.stdout.trim() || "unknown")
      const scene: DockerScene = {
        sandbox,
        driver,
        run: runId,
        alive: 0,
        setupSeconds: 0,
        memoryUsed: 0,
        memoryMeasuredFor: 0,
        bytesPerContainer: initialGuessBytes
      }
      result.notes.push(`docker sandbox started in ${sandboxSeconds.toFixed(1)} s (${sandbox.directory})`)
      for (const size of settings.sizes) {
        const growth = yield* growTo(scene, size, settings.startConcurrency)
        result.notes.push(
          `N = ${growth.requested}: ${growth.reached} containers alive after ${growth.seconds.toFixed(1)} s of setup ` +
            `(create + start through the API, ${settings.startConcurrency} at a time; MemAvailable went down by ` +
            `${(scene.memoryUsed / Math.max(1, scene.memoryMeasuredFor) / 2 ** 20).toFixed(1)} MiB per container started so far)` +
            (growth.limitedBy === undefined ? "" : `; stopped short by ${growth.limitedBy}`)
        )
        yield* Effect.sleep(settings.settleMillis)
        syncRows(result, yield* measureSync(sandbox.socketPath, sandbox.directory, growth.reached, settings))
      }
      yield* eventSection(scene, result, settings.events)
      return performance.now()
    }).pipe(
      Effect.onExit((exit) => Scope.close(scope, exit))
    )
    const teardownSeconds = (performance.now() - teardown) / 1000
    result.notes.push(
      `Teardown of the docker sandbox (force-remove every container, stop dockerd and containerd, remove all traces) ${teardownSeconds.toFixed(1)} s; memory available before it ${(memoryBefore / 2 ** 30).toFixed(1)} GiB.`
    )
    yield* podmanSection(result, settings.podman, facts, runId)
    result.notes.push(
      `Sync: ${settings.sizes.map((n) => `${settings.rounds(n)} measured rounds for N = ${n}`).join(", ")}, each after ${settings.warmupRounds} warm-up round(s) and a ${settings.settleMillis / 1000} s pause once the containers were started; each round runs every contender once, in rotating order, each on its own warm connection (the Watcher's engine is new for each N: its first sync, a warm-up, also pings).`,
      `Every contender that inspects does it ${inspectConcurrency} at a time (DockerEngine's default list concurrency); dockerode runs on its default transport (node:http, Node's global keep-alive agent), the bare client on node:http with its own keep-alive agent; the shell runs the docker command line (version in the machine table) with DOCKER_HOST on the sandbox's socket, output read in full and checked.`,
      "Where the Watcher's time goes: the engine wrapped to stamp the start and end of openSubscription (it returns once the event stream's headers arrived) and of list; medians over the rounds, which need not add up.",
      "A Docker list carries no PIDs, so every sync pays one inspect per container: the 'list request alone' row shows the list's share of the floor, the rest is the N inspects."
    )
    return result
  })
