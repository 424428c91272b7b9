/**
 * The Docker engine client — for dockerd and for Podman's Docker-compatible API: an
 * {@link EngineClient.EngineClient} over a {@link DockerConnection.DockerConnection}.
 *
 * - Alive means running or paused. `list` asks for exactly those with the status filter (Podman's
 *   plain list leaves paused containers out), then inspects each one: the list carries no PID. A
 *   sync costs 1 + N requests.
 * - A container's display ID is its full ID, its name has no leading slash, its project comes from
 *   `com.docker.compose.project`, `paused` from the inspected state; Docker has no namespaces ("").
 * - `inspect` takes a name, a full ID or an unambiguous ID prefix, like `docker inspect`.
 * - `subscribe` opens one `/events` stream with server-side filters for start, death (both
 *   spellings), pause, unpause and rename, replaying from the daemon's own clock (`since` = the
 *   `SystemTime` of `/info`, taken before the stream opens). Replay and subscription are atomic on
 *   the daemon, so once the stream's headers arrived every change after that moment is in the
 *   stream. Docker replays from a ring of its last 256 events of all types: a burst of more events
 *   between the clock reading and the subscription (milliseconds) would push some out.
 * - The stream is read continuously into the client's own unbounded queue, whatever the consumer
 *   does: Docker silently drops events for a listener that reads slowly.
 * - An exec's end (`exec_die`) is never a container exit; a rename is an `Updated` with the new
 *   name (and the container's labels, inspected); lines that do not parse are skipped and counted.
 *
 * @since 0.1.0
 */
import { type Cause, type Config, Deferred, Effect, Layer, Option, Queue, Schema, type Scope, Stream } from "effect"
import type { Container } from "../Container.ts"
import type { ContainerEvent, Started } from "../ContainerEvent.ts"
import { EngineClient, type EngineClientShape, type EngineSubscription, type ProcessCheck } from "../EngineClient.ts"
import { ContainerNotFound, type EngineError, EngineUnavailable, ProcesslessContainer } from "../EngineError.ts"
import { findSocketOwner } from "../internal/procfs.ts"
import * as SkipCounters from "../internal/skipCounters.ts"
import {
  type CallError,
  DockerConnection,
  type DockerConnectionOptions,
  type DockerConnectionShape,
  layerConfig as connectionLayerConfig
} from "./DockerConnection.ts"
import { type Decoded, decodeEventLine, eventFilters, type Renamed, sinceParameter, type Skipped } from "./internal/events.ts"

/**
 * The engine type, as the Go original names its Docker ("moby") engine client; also for Podman.
 *
 * @category constants
 * @since 0.1.0
 */
export const Type = "docker.com"

/**
 * The label holding a container's compose project.
 *
 * @category constants
 * @since 0.1.0
 */
export const ComposeProjectLabel = "com.docker.compose.project"

/**
 * Options of {@link make} / {@link layer}.
 *
 * @category models
 * @since 0.1.0
 */
export interface DockerEngineOptions {
  /** How many containers `list` inspects at once; default 8. */
  readonly listConcurrency?: number | undefined
  /** The label holding a container's compose project; default {@link ComposeProjectLabel}. */
  readonly projectLabel?: string | undefined
  /** The daemon's PID when known already; otherwise it is looked up as the socket's owner. */
  readonly enginePid?: number | undefined
}

/**
 * Counts of event lines skipped, by reason.
 *
 * @category models
 * @since 0.1.0
 */
export type SkippedEvents = Readonly<Record<Skipped, number>>

/**
 * The Docker engine client's interface: an EngineClient plus the skipped-event counters.
 *
 * @category models
 * @since 0.1.0
 */
export interface DockerEngineShape extends EngineClientShape {
  /** The connection (`client` is the same value). */
  readonly client: DockerConnectionShape
  /**
   * How many event lines were skipped so far, by reason, read from the effect Metric counter
   * `effect_whalewatcher_skipped_events` (attributes `engine`, `api`, `reason`).
   */
  readonly skippedEvents: Effect.Effect<SkippedEvents>
}

const Labels = Schema.optional(Schema.NullOr(Schema.Record(Schema.String, Schema.String)))

const ContainerInspect = Schema.Struct({
  Id: Schema.String,
  Name: Schema.optional(Schema.String),
  State: Schema.Struct({
    Pid: Schema.optional(Schema.Number),
    Running: Schema.optional(Schema.Boolean),
    Paused: Schema.optional(Schema.Boolean)
  }),
  Config: Schema.optional(Schema.NullOr(Schema.Struct({ Labels })))
})
type ContainerInspect = typeof ContainerInspect.Type

const ContainerSummaries = Schema.Array(Schema.Struct({ Id: Schema.String }))

/** Podman's native list: it carries the PID, so one request lists everything. */
const LibpodSummaries = Schema.NullOr(Schema.Array(Schema.Struct({
  Id: Schema.String,
  Names: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  Labels: Labels,
  Pid: Schema.optional(Schema.Number),
  State: Schema.optional(Schema.String)
})))

const Info = Schema.Struct({ ID: Schema.optional(Schema.String), SystemTime: Schema.optional(Schema.String) })

/** What Podman's own info tells of the instance: its host and its store. */
const LibpodInfo = Schema.Struct({
  host: Schema.optional(Schema.Struct({ hostname: Schema.optional(Schema.String) })),
  store: Schema.optional(Schema.Struct({ graphRoot: Schema.optional(Schema.String) }))
})

const Version = Schema.Struct({ Version: Schema.optional(Schema.String), ApiVersion: Schema.optional(Schema.String) })

const aliveFilter = JSON.stringify({ status: ["running", "paused"] })

const isNotFound = (error: CallError): boolean => error._tag === "EngineRequestError" && error.code === "NotFound"

/**
 * Builds the engine over the DockerConnection in the context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: DockerEngineOptions = {}): Effect.Effect<DockerEngineShape, never, DockerConnection> =>
  Effect.gen(function*() {
    const connection = yield* DockerConnection
    const address = connection.address
    const projectLabel = options.projectLabel ?? ComposeProjectLabel
    const listConcurrency = options.listConcurrency ?? 8
    const skipped = yield* SkipCounters.make<Skipped>(["ignored", "exec-exit", "unknown", "garbled"], {
      engine: Type,
      api: address
    })

    const toContainer = (record: ContainerInspect): Container => {
      const labels = record.Config?.Labels ?? {}
      return {
        id: record.Id,
        name: (record.Name ?? "").replace(/^\//, ""),
        labels,
        pid: record.State.Pid ?? 0,
        project: labels[projectLabel] ?? "",
        paused: record.State.Paused === true,
        namespace: ""
      }
    }

    const isAlive = (record: ContainerInspect): boolean =>
      (record.State.Pid ?? 0) > 0 && (record.State.Running === true || record.State.Paused === true)

    /** The inspected container, or None when there is none by that name or ID. */
    const inspectRecord = (nameOrId: string): Effect.Effect<Option.Option<ContainerInspect>, CallError> =>
      nameOrId === ""
        ? Effect.succeedNone
        : connection.getJson("Containers.Inspect", `/containers/${encodeURIComponent(nameOrId)}/json`, ContainerInspect)
          .pipe(
            Effect.map(Option.some),
            Effect.catchIf(isNotFound, () => Effect.succeedNone)
          )

    const inspect = (nameOrId: string): Effect.Effect<Container, EngineError> =>
      Effect.gen(function*() {
        const record = yield* inspectRecord(nameOrId)
        if (Option.isNone(record)) return yield* new ContainerNotFound({ address, nameOrId })
        if (!isAlive(record.value)) return yield* new ProcesslessContainer({ address, id: record.value.Id })
        return toContainer(record.value)
      })

    const listPodman: Effect.Effect<ReadonlyArray<Container>, EngineError> = Effect.map(
      connection.getJson("Containers.List", "/libpod/containers/json", LibpodSummaries, { params: { filters: aliveFilter } }),
      (summaries) =>
        (summaries ?? []).flatMap((summary) => {
          const pid = summary.Pid ?? 0
          if (pid <= 0 || (summary.State !== "running" && summary.State !== "paused")) return []
          const labels = summary.Labels ?? {}
          return [{
            id: summary.Id,
            name: (summary.Names?.[0] ?? "").replace(/^\//, ""),
            labels,
            pid,
            project: labels[projectLabel] ?? "",
            paused: summary.State === "paused",
            namespace: ""
          }]
        })
    )

    const list: Effect.Effect<ReadonlyArray<Container>, EngineError> = Effect.gen(function*() {
      // Podman's own list has PIDs: 1 request instead of 1 + N.
      if ((yield* connection.ping).isPodman) return yield* listPodman
      const summaries = yield* connection.getJson("Containers.List", "/containers/json", ContainerSummaries, {
        params: { filters: aliveFilter }
      })
      const inspected = yield* Effect.forEach(summaries, (summary) => inspectRecord(summary.Id), {
        concurrency: listConcurrency
      })
      // A container that died or went away between the list and its inspection is not alive.
      return inspected.flatMap((record) => Option.isSome(record) && isAlive(record.value) ? [toContainer(record.value)] : [])
    })

    const resolveStarted = (event: Started): Effect.Effect<Container, EngineError> => inspect(event.id)

    /** A rename becomes an Updated with the container's labels; dropped if the container is gone. */
    const completeRename = (renamed: Renamed): Effect.Effect<ReadonlyArray<ContainerEvent>, EngineError> =>
      Effect.map(inspectRecord(renamed.id), (record) => {
        if (Option.isNone(record)) return []
        const container = toContainer(record.value)
        return [{
          _tag: "Updated",
          timestamp: renamed.timestamp,
          id: container.id,
          namespace: "",
          labels: container.labels,
          // The inspect's name, not the event's: of two renames completed out of order, both
          // carry the latest name.
          name: container.name,
          project: container.project
        }]
      })

    const info = connection.getJson("System.Info", "/info", Info)

    /**
     * The event stream, read continuously into the client's own queue (Docker drops events for a
     * listener that reads slowly). A rename is completed by one inspect in a fiber of its own, so
     * that reading never waits; its `Updated` carries the name the inspect found (the latest).
     */
    const openSubscription: Effect.Effect<EngineSubscription, EngineError, Scope.Scope> = Effect.gen(
      function*() {
        const operation = "System.Events"
        const systemTime = (yield* info).SystemTime
        const since = systemTime === undefined ? undefined : sinceParameter(systemTime)
        if (since === undefined) {
          return yield* new EngineUnavailable({
            address,
            operation,
            reason: "Unavailable",
            detail: `the daemon's clock (/info SystemTime ${JSON.stringify(systemTime)}) cannot be read`
          })
        }
        const lines = yield* connection.openLines(operation, "/events", { params: { since, filters: eventFilters } })
        const queue = yield* Queue.unbounded<ContainerEvent, EngineError | Cause.Done>()
        const broken = yield* Deferred.make<never, EngineError>()
        const scope = yield* Effect.scope
        const complete = (renamed: Renamed) =>
          completeRename(renamed).pipe(
            Effect.flatMap((events) => Queue.offerAll(queue, events)),
            // A rename that cannot be completed now is left to the next resync.
            Effect.catchCause((cause) => Effect.logDebug("effect-whalewatcher: a rename was not completed", cause)),
            Effect.forkIn(scope)
          )
        yield* lines.pipe(
          Stream.runForEach((line) =>
            Effect.suspend(() => {
              if (line.trim() === "") return Effect.void
              const decoded: Decoded = decodeEventLine(line, projectLabel)
              if (typeof decoded === "string") skipped.skip(decoded)
              else if (decoded._tag === "Renamed") return Effect.asVoid(complete(decoded))
              else Queue.offerUnsafe(queue, decoded)
              return Effect.void
            })
          ),
          // An event stream never ends by itself: an end is a lost connection too.
          Effect.andThen(Effect.fail(
            new EngineUnavailable({ address, operation, reason: "ConnectionLost", detail: "the event stream ended" })
          )),
          Effect.onError((cause) =>
            Effect.andThen(Queue.failCause(queue, cause), Deferred.failCause(broken, cause as Cause.Cause<EngineError>))
          ),
          Effect.forkScoped
        )
        return { events: queue, broken: Deferred.await(broken) }
      }
    )

    const subscribe: Effect.Effect<Stream.Stream<ContainerEvent, EngineError>, EngineError, Scope.Scope> = Effect.map(
      openSubscription,
      (subscription) => Stream.fromQueue(subscription.events)
    )

    /** One inspect: the process as it is now. */
    const checkProcess = (id: string): Effect.Effect<ProcessCheck, EngineError> =>
      Effect.map(inspectRecord(id), (record) =>
        Option.isSome(record) && isAlive(record.value)
          ? { _tag: "Alive", pid: record.value.State.Pid ?? 0, paused: record.value.State.Paused === true }
          : { _tag: "Gone" })

    const pid = yield* Effect.cached(
      options.enginePid !== undefined
        ? Effect.succeed(options.enginePid)
        : Effect.promise(() => findSocketOwner(address))
    )

    return {
      type: Type,
      api: address,
      id: Effect.flatMap(connection.ping, (ping) =>
        ping.isPodman
          // Podman's /info makes up a new ID on every call: its store (one per instance on a
          // host) and the host name are what stays.
          ? Effect.map(
            connection.getJson("System.Info", "/libpod/info", LibpodInfo),
            (result) => `podman:${result.host?.hostname ?? ""}:${result.store?.graphRoot ?? ""}`
          )
          : Effect.map(info, (result) => result.ID ?? "")),
      version: Effect.map(
        connection.getJson("System.Version", "/version", Version),
        (result) => `${result.Version ?? "unknown"} API ${result.ApiVersion ?? "unknown"}`
      ),
      pid,
      list,
      inspect,
      subscribe,
      openSubscription,
      checkProcess,
      lifecycleEvents: Stream.unwrap(subscribe),
      resolveStarted,
      // An inspect: it reads the process as it is now, so a start needs no separate check.
      resolveStartedIsCurrent: true,
      client: connection,
      skippedEvents: skipped.counts
    }
  })

/**
 * The engine as an EngineClient layer; provide a DockerConnection — or use {@link layerConfig}.
 *
 * @example
 * ```ts
 * import { DockerConnection, DockerEngine } from "effect-whalewatcher/docker"
 * import { Layer } from "effect"
 *
 * const engine = DockerEngine.layer().pipe(
 *   Layer.provide(DockerConnection.layer({ address: "unix:///var/run/docker.sock" }))
 * )
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: DockerEngineOptions = {}): Layer.Layer<EngineClient, never, DockerConnection> =>
  Layer.effect(EngineClient, make(options))

/**
 * Everything in one layer, from plain options: the connection (address option, else `DOCKER_HOST`
 * — `CONTAINER_HOST` with `flavor: "podman"` — else the default socket) and the engine.
 *
 * @example
 * ```ts
 * import { DockerEngine } from "effect-whalewatcher/docker"
 *
 * const docker = DockerEngine.layerConfig()
 * const podman = DockerEngine.layerConfig({ flavor: "podman" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: DockerEngineOptions & DockerConnectionOptions = {}
): Layer.Layer<EngineClient, Config.ConfigError> => layer(options).pipe(Layer.provide(connectionLayerConfig(options)))
