/**
 * The containerd engine client: an {@link EngineClient.EngineClient} over a
 * {@link ContainerdConnection.ContainerdConnection}, shaped by a {@link NamespaceFilter.NamespaceFilter},
 * a {@link LabelMapping.LabelMapping} and, when provided, a {@link ContainerdEnricher.ContainerdEnricher}.
 *
 * - `list` costs 1 + 2 × (watched namespaces) RPCs — Namespaces.List, then Containers.ListStream
 *   (Containers.List where containerd lacks it) and Tasks.List per namespace, concurrently — never
 *   one per container. Records are streamed one message each, so a namespace may hold more than
 *   the 16 MiB of one message; a single record larger than that is kept without its labels.
 * - Alive means the task has its initial process: RUNNING, PAUSING or PAUSED (the latter two are
 *   `paused`), or UNKNOWN with a PID. UNKNOWN without a PID (containerd's answer when a shim does
 *   not respond within 2 s) is neither: `survey` reports it as undetermined, `list` leaves it out.
 * - `subscribe` opens one Events.Subscribe with quoted server-side filters and returns only once
 *   the subscription is known to be live (see {@link ContainerdEngineOptions.syncMarker}).
 * - Exits of exec'd processes are never container exits; unknown or garbled payloads are skipped
 *   and counted, never fatal.
 *
 * @since 0.1.0
 */
import { create } from "@bufbuild/protobuf"
import {
  Array as Arr,
  type Cause,
  type Config,
  Deferred,
  type Duration,
  Effect,
  Exit,
  Layer,
  Option,
  Order,
  Queue,
  Schedule,
  type Scope,
  Stream
} from "effect"
import {
  type Container as ContainerdContainer,
  ContainerSchema
} from "../../gen/containerd/services/containers/v1/containers_pb.ts"
import { type Process, ProcessSchema, Status } from "../../gen/containerd/types/task_pb.ts"
import type { Container } from "../Container.ts"
import type { ContainerEvent, Started } from "../ContainerEvent.ts"
import {
  EngineClient,
  type EngineClientShape,
  type EngineSubscription,
  type ProcessCheck,
  type Survey
} from "../EngineClient.ts"
import {
  ContainerNotFound,
  type EngineError,
  EngineUnavailable,
  ProcesslessContainer
} from "../EngineError.ts"
import * as SkipCounters from "../internal/skipCounters.ts"
import {
  type CallError,
  ContainerdConnection,
  type ContainerdClients,
  type ContainerdConnectionOptions,
  layerConfig as connectionLayerConfig,
  MaxMessageBytes
} from "./ContainerdConnection.ts"
import { ContainerdEnricher, type ContainerdEnricherShape } from "./ContainerdEnricher.ts"
import * as DisplayId from "./DisplayId.ts"
import { decodeEnvelope, LifecycleTopics, type Skipped, subscribeFilters } from "./internal/events.ts"
import { isIdentifier } from "./internal/identifiers.ts"
import { namespaceFilterOf } from "./internal/namespaceOptions.ts"
import { replacedInLabels } from "./internal/replacedText.ts"
import { findSocketOwner } from "../internal/procfs.ts"
import * as LabelMapping from "./LabelMapping.ts"
import * as NamespaceFilter from "./NamespaceFilter.ts"

/**
 * This engine's type identifier.
 *
 * @category constants
 * @since 0.1.0
 */
export const Type = "containerd.io"

/**
 * The topic of the marker events `subscribe` publishes to learn that its subscription is live.
 *
 * @category constants
 * @since 0.1.0
 */
export const SyncMarkerTopic = "/effect-whalewatcher/sync"

/**
 * The Any type name of the marker events' payload (its bytes are a random token).
 *
 * @category constants
 * @since 0.1.0
 */
export const SyncMarkerTypeName = "effect-whalewatcher.SyncMarker"

/**
 * Options of the containerd engine.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerdEngineOptions {
  /**
   * The engine's PID, when you know it. Otherwise it is taken from Introspection (containerd 1.7+)
   * or, on Linux, from the process listening on the socket (needs the privileges to read other
   * processes' /proc/PID/fd); else it stays unknown.
   */
  readonly enginePid?: number | undefined
  /** How many namespaces `list` reads at once; default 8. */
  readonly listConcurrency?: number | undefined
  /**
   * containerd sends nothing when a subscription becomes live, so `subscribe` publishes a marker
   * event (topic {@link SyncMarkerTopic}, in namespace {@link syncMarkerNamespace}) and waits until
   * it comes back on its own stream: from then on no event can be missed. This writes an event
   * that other subscribers (e.g. `ctr events`) see. Default true; when false, `subscribe` waits
   * {@link subscribeSettle} instead, which is NOT a guarantee.
   */
  readonly syncMarker?: boolean | undefined
  /** The namespace the marker is published in; default `default`. Publishing creates nothing. */
  readonly syncMarkerNamespace?: string | undefined
  /** How long to wait for a subscription without a marker; default 250 ms. */
  readonly subscribeSettle?: Duration.Input | undefined
  /** How long `subscribe` waits for its marker before failing; default 10 seconds. */
  readonly liveTimeout?: Duration.Input | undefined
}

/**
 * How many event envelopes were skipped, by reason: `ignored` (namespace filtered out),
 * `exec-exit` (an exec'd process exited), `unknown` (unexpected type or empty id), `garbled`
 * (payload did not decode).
 *
 * @category models
 * @since 0.1.0
 */
export type SkippedEvents = Readonly<Record<Skipped, number>>

/**
 * The containerd engine client: the EngineClient interface plus containerd specifics.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerdEngineShape extends EngineClientShape {
  /** The typed gRPC clients. */
  readonly client: ContainerdClients
  /** Always provided: tasks in state UNKNOWN without a PID are undetermined. */
  readonly survey: Effect.Effect<Survey, EngineError>
  /**
   * Counts of envelopes skipped so far by this engine's subscriptions, read from the effect
   * Metric counter `effect_whalewatcher_skipped_events` (attributes `engine`, `api`, `reason`).
   */
  readonly skippedEvents: Effect.Effect<SkippedEvents>
  /**
   * How many label keys and values this engine has decoded with U+FFFD in them so far (containerd
   * accepts label bytes that are not UTF-8; each invalid sequence becomes U+FFFD, see the README).
   */
  readonly replacedTexts: Effect.Effect<number>
}

const aliveStatuses = new Set([Status.RUNNING, Status.PAUSED, Status.PAUSING])

/** Alive: has its initial process. A task in UNKNOWN with a PID still has one. */
const isAlive = (task: Process): boolean => aliveStatuses.has(task.status) || (task.status === Status.UNKNOWN && task.pid > 0)

const gone: ProcessCheck = { _tag: "Gone" }
const unknown: ProcessCheck = { _tag: "Unknown" }

/**
 * Undetermined: UNKNOWN without a PID. containerd reports this when a shim does not answer within
 * its 2 s state timeout (e.g. a stopped shim): the container may well be alive.
 */
const isUndetermined = (task: Process): boolean => task.status === Status.UNKNOWN && task.pid === 0

const isPaused = (task: Process): boolean => task.status === Status.PAUSED || task.status === Status.PAUSING

const isNotFound = (error: CallError): boolean => error._tag === "EngineRequestError" && error.code === "NotFound"

const isUnimplemented = (error: CallError): boolean =>
  error._tag === "EngineRequestError" && error.code === "Unimplemented"

/** A message larger than either side's limit (containerd: "trying to send message larger than max"). */
const isTooLarge = (error: CallError): boolean =>
  error._tag === "EngineRequestError" && error.code === "ResourceExhausted"

/** Name matches by display ID, as containers are listed (the first one is the one `inspect` finds). */
const byDisplayId: Order.Order<{ readonly displayId: string }> = Order.mapInput(
  Order.String,
  (match: { readonly displayId: string }) => match.displayId
)

/**
 * How long `subscribe` waits for each marker before it publishes another: 1 ms, then twice as
 * long each time, up to 160 ms. The first marker is often lost (containerd 1.6); a short first
 * wait makes the subscription live sooner.
 */
const markerSchedule: Schedule.Schedule<Duration.Duration> = Schedule.min([
  Schedule.exponential("1 millis", 2),
  Schedule.spaced("160 millis")
])

/**
 * Builds the engine client from its services.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: ContainerdEngineOptions = {}
): Effect.Effect<
  ContainerdEngineShape,
  never,
  ContainerdConnection | NamespaceFilter.NamespaceFilter | LabelMapping.LabelMapping
> =>
  Effect.gen(function*() {
    const connection = yield* ContainerdConnection
    const filter = yield* NamespaceFilter.NamespaceFilter
    const mapping = yield* LabelMapping.LabelMapping
    const enricher = yield* Effect.serviceOption(ContainerdEnricher)
    const address = connection.address
    const listConcurrency = options.listConcurrency ?? 8
    const syncMarker = options.syncMarker ?? true
    const markerNamespace = options.syncMarkerNamespace ?? LabelMapping.DefaultNamespace
    const skipped = yield* SkipCounters.make<Skipped>(["ignored", "exec-exit", "unknown", "garbled"], {
      engine: Type,
      api: address
    })
    let replacedTexts = 0

    const toContainer = (namespace: string, record: ContainerdContainer, task: Process): Effect.Effect<Container> => {
      replacedTexts += replacedInLabels(record.labels)
      const container: Container = {
        id: DisplayId.make(namespace, record.id),
        name: mapping.name(namespace, record.id, record.labels),
        labels: record.labels,
        pid: task.pid,
        project: mapping.project(namespace, record.labels),
        paused: isPaused(task),
        namespace
      }
      return Option.isNone(enricher) ? Effect.succeed(container) : enrich(enricher.value, container, namespace, record, task)
    }

    const enrich = (
      service: ContainerdEnricherShape,
      container: Container,
      namespace: string,
      record: ContainerdContainer,
      task: Process
    ): Effect.Effect<Container> =>
      service.enrich(container, { namespace, container: record, task }).pipe(
        Effect.map((enrichment): Container => ({ ...container, enrichment })),
        Effect.catchCause((cause) =>
          Effect.as(
            Effect.logWarning(`enricher failed for container ${container.id}; kept without enrichment`, cause),
            container
          )
        )
      )

    /**
     * One record by id. A record larger than one gRPC message (containerd accepts hundreds of
     * 4 KiB labels) cannot be fetched at all: it is kept with its id only, and a warning says so.
     */
    const getContainer = (namespace: string, id: string): Effect.Effect<Option.Option<ContainerdContainer>, CallError> =>
      connection.call("Containers.Get", (clients, callOptions) => clients.containers.get({ id }, callOptions), {
        namespace
      }).pipe(
        Effect.map((response) => Option.fromNullishOr(response.container)),
        Effect.catchIf(isNotFound, () => Effect.succeedNone),
        Effect.catchIf(isTooLarge, () =>
          Effect.as(
            Effect.logWarning(
              `effect-whalewatcher: the record of container ${DisplayId.make(namespace, id)} is larger ` +
                `than ${MaxMessageBytes} bytes; it is kept without its labels`
            ),
            Option.some(create(ContainerSchema, { id }))
          ))
      )

    // Known per connection once containerd said so: older releases have no ListStream.
    let listStreamMissing = false

    /**
     * The records of a namespace, one message each (Containers.ListStream, as `ctr` and the Go
     * original do): a namespace whose records add up to more than one message is still listed.
     * A record too large for a message ends the stream; what came before it is kept and
     * `complete` is false (the caller fetches the missing alive ones one by one).
     */
    const listRecords = (
      namespace: string
    ): Effect.Effect<{ readonly records: Array<ContainerdContainer>; readonly complete: boolean }, CallError> => {
      const records: Array<ContainerdContainer> = []
      const viaList = connection.call("Containers.List", (clients, o) => clients.containers.list({}, o), { namespace }).pipe(
        Effect.map((response) => ({ records: response.containers, complete: true }))
      )
      if (listStreamMissing) return viaList
      return connection.stream(
        "Containers.ListStream",
        (clients, o) => clients.containers.listStream({}, o),
        { namespace }
      ).pipe(
        Stream.runForEach((message) => Effect.sync(() => message.container !== undefined && records.push(message.container))),
        Effect.as({ records, complete: true }),
        Effect.catchIf(
          (error) => isUnimplemented(error) && records.length === 0,
          () => Effect.andThen(Effect.sync(() => (listStreamMissing = true)), viaList)
        ),
        Effect.catchIf(isTooLarge, () => Effect.succeed({ records, complete: false }))
      )
    }

    const listNamespace = (namespace: string): Effect.Effect<Survey, CallError> =>
      Effect.gen(function*() {
        const [containers, tasks] = yield* Effect.all([
          listRecords(namespace),
          connection.call("Tasks.List", (clients, o) => clients.tasks.list({}, o), { namespace })
        ], { concurrency: 2 })
        const records = new Map(containers.records.map((record) => [record.id, record]))
        // Tasks.List fills `id` with the container id (container_id stays empty).
        const undetermined = tasks.tasks.filter(isUndetermined).map((task) =>
          DisplayId.make(namespace, task.id || task.containerId)
        )
        const alive = yield* Effect.forEach(
          tasks.tasks.filter(isAlive),
          (task) =>
            Effect.gen(function*() {
              const id = task.id || task.containerId
              // Both lists ran concurrently: a container created after the records were listed but
              // started before Tasks.List is fetched on its own (rare), as is one after a record too
              // large for a message.
              const record = records.get(id) ?? Option.getOrUndefined(yield* getContainer(namespace, id))
              return record === undefined ? [] : [yield* toContainer(namespace, record, task)]
            }),
          { concurrency: "unbounded" }
        ).pipe(Effect.map((nested) => nested.flat()))
        return { alive, undetermined }
      })

    const survey: Effect.Effect<Survey, EngineError> = Effect.gen(function*() {
      const response = yield* connection.call("Namespaces.List", (clients, o) => clients.namespaces.list({}, o))
      const namespaces = response.namespaces.map((namespace) => namespace.name).filter(filter.allows)
      const perNamespace = yield* Effect.forEach(namespaces, listNamespace, { concurrency: listConcurrency })
      return {
        alive: perNamespace.flatMap((found) => found.alive),
        undetermined: perNamespace.flatMap((found) => found.undetermined)
      }
    })

    const list: Effect.Effect<ReadonlyArray<Container>, EngineError> = Effect.map(survey, (found) => found.alive)

    const inspect = (nameOrId: string): Effect.Effect<Container, EngineError> =>
      Effect.gen(function*() {
        const found = yield* findById(nameOrId)
        const match = Option.isSome(found) ? found.value : yield* findByName(nameOrId)
        if (match === undefined) return yield* new ContainerNotFound({ address, nameOrId })
        const { namespace, record } = match
        const processless = new ProcesslessContainer({ address, id: DisplayId.make(namespace, record.id) })
        const task = yield* connection.call(
          "Tasks.Get",
          (clients, o) => clients.tasks.get({ containerId: record.id }, o),
          { namespace }
        ).pipe(Effect.catchIf(isNotFound, () => Effect.fail(processless)))
        if (task.process === undefined || !isAlive(task.process)) return yield* processless
        return yield* toContainer(namespace, record, task.process)
      })

    /**
     * By display ID: only when both parts are identifiers containerd accepts (user input never
     * reaches a header or a request unchecked) and the namespace is watched.
     */
    const findById = (
      displayId: string
    ): Effect.Effect<Option.Option<{ namespace: string; record: ContainerdContainer }>, CallError> => {
      const { id, namespace } = DisplayId.parse(displayId)
      if (!isIdentifier(namespace) || !isIdentifier(id) || !filter.allows(namespace)) return Effect.succeedNone
      return Effect.map(getContainer(namespace, id), Option.map((record) => ({ namespace, record })))
    }

    /**
     * By name, against the names the engine knows: every watched namespace's containers, named by
     * the label mapping (a name may contain `/` in any namespace). Several matches: the smallest
     * display ID, as `Portfolio.getByName`.
     */
    const findByName = (
      name: string
    ): Effect.Effect<{ namespace: string; record: ContainerdContainer } | undefined, CallError> =>
      Effect.gen(function*() {
        const response = yield* connection.call("Namespaces.List", (clients, o) => clients.namespaces.list({}, o))
        const namespaces = response.namespaces.map((namespace) => namespace.name).filter(filter.allows)
        const perNamespace = yield* Effect.forEach(namespaces, (namespace) =>
          listRecords(namespace).pipe(
            Effect.map((listed) =>
              listed.records
                .filter((record) => mapping.name(namespace, record.id, record.labels) === name)
                .map((record) => ({ namespace, record, displayId: DisplayId.make(namespace, record.id) }))
            )
          ), { concurrency: listConcurrency })
        const matches = Arr.sort(perNamespace.flat(), byDisplayId)
        return matches[0]
      })

    const resolveStarted = (event: Started): Effect.Effect<Container, EngineError> =>
      Effect.gen(function*() {
        const { id } = DisplayId.parse(event.id)
        const record = yield* getContainer(event.namespace, id)
        if (Option.isNone(record)) return yield* new ContainerNotFound({ address, nameOrId: event.id })
        const task = create(ProcessSchema, { id, pid: event.pid, status: Status.RUNNING })
        return yield* toContainer(event.namespace, record.value, task)
      })

    const filters = [
      ...subscribeFilters(LifecycleTopics, filter),
      ...(syncMarker ? [`topic==${JSON.stringify(SyncMarkerTopic)}`] : [])
    ]

    const openSubscription: Effect.Effect<EngineSubscription, EngineError, Scope.Scope> = Effect.gen(
      function*() {
        const token = new TextEncoder().encode(crypto.randomUUID())
        const queue = yield* Queue.unbounded<ContainerEvent, EngineError | Cause.Done>()
        const live = yield* Deferred.make<void, EngineError>()
        const broken = yield* Deferred.make<never, EngineError>()
        const isOurMarker = (value: Uint8Array) =>
          value.length === token.length && value.every((byte, index) => byte === token[index])

        yield* connection.stream("Events.Subscribe", (clients, o) => clients.events.subscribe({ filters }, o)).pipe(
          Stream.runForEach((envelope) =>
            Effect.sync(() => {
              if (envelope.topic === SyncMarkerTopic) {
                if (envelope.event !== undefined && isOurMarker(envelope.event.value)) Deferred.doneUnsafe(live, Exit.void)
                return
              }
              if (!filter.allows(envelope.namespace)) {
                skipped.skip("ignored")
                return
              }
              const decoded = decodeEnvelope(envelope, mapping)
              if (typeof decoded === "string") skipped.skip(decoded)
              else {
                if (decoded._tag === "Updated") replacedTexts += replacedInLabels(decoded.labels)
                Queue.offerUnsafe(queue, decoded)
              }
            })
          ),
          // A subscription never ends by itself: an end without error is a lost connection too.
          Effect.andThen(Effect.fail(
            new EngineUnavailable({
              address,
              operation: "Events.Subscribe",
              reason: "ConnectionLost",
              detail: "the event stream ended"
            })
          )),
          Effect.onError((cause) =>
            Effect.all([Queue.failCause(queue, cause), Deferred.failCause(live, cause), Deferred.failCause(broken, cause)])
          ),
          Effect.forkScoped
        )

        if (syncMarker) {
          const publishMarker = connection.call(
            "Events.Publish",
            (clients, o) =>
              clients.events.publish({ topic: SyncMarkerTopic, event: { typeUrl: SyncMarkerTypeName, value: token } }, o),
            { namespace: markerNamespace }
          )
          // The first marker may be published before the server registered the subscription; one
          // published after it always comes back. Publish, wait as long as markerSchedule says,
          // again until one does. One step at a time: a publication's failure (e.g. the socket is
          // not containerd's) is what is reported, before a failure of the stream it ran beside.
          const nextWait = yield* Schedule.toStep(markerSchedule)
          yield* Effect.gen(function*() {
            while (true) {
              yield* publishMarker
              // The schedule never ends: no Done to handle.
              const [, wait] = yield* Effect.orDie(nextWait(0, undefined))
              if (Option.isSome(yield* Deferred.await(live).pipe(Effect.timeoutOption(wait)))) return
            }
          }).pipe(
            Effect.timeoutOrElse({
              duration: options.liveTimeout ?? "10 seconds",
              orElse: () =>
                Effect.fail(
                  new EngineUnavailable({
                    address,
                    operation: "Events.Subscribe",
                    reason: "DeadlineExceeded",
                    detail: "the subscription's marker event never came back"
                  })
                )
            })
          )
        } else {
          yield* Effect.sleep(options.subscribeSettle ?? "250 millis")
          // The stream may already have failed (e.g. a bad filter); say so now rather than later.
          const completed = yield* Deferred.poll(live)
          if (Option.isSome(completed)) yield* completed.value
        }
        return { events: queue, broken: Deferred.await(broken) }
      }
    )

    const subscribe: Effect.Effect<Stream.Stream<ContainerEvent, EngineError>, EngineError, Scope.Scope> = Effect.map(
      openSubscription,
      (subscription) => Stream.fromQueue(subscription.events)
    )

    const checkProcess = (displayId: string): Effect.Effect<ProcessCheck, EngineError> =>
      Effect.gen(function*() {
        const { id, namespace } = DisplayId.parse(displayId)
        if (!filter.allows(namespace) || id === "") return gone
        const response = yield* connection.call(
          "Tasks.Get",
          (clients, o) => clients.tasks.get({ containerId: id }, o),
          { namespace }
        ).pipe(Effect.catchIf(isNotFound, () => Effect.succeed(undefined)))
        const task = response?.process
        if (task === undefined) return gone
        // A shim that does not answer in time makes containerd report UNKNOWN: no evidence either way.
        if (task.status === Status.UNKNOWN) return unknown
        return aliveStatuses.has(task.status) ? { _tag: "Alive", pid: task.pid, paused: isPaused(task) } : gone
      })

    const introspection = connection.call("Introspection.Server", (clients, o) => clients.introspection.server({}, o))

    const pid = yield* Effect.cached(
      Effect.gen(function*() {
        if (options.enginePid !== undefined) return options.enginePid
        const server = yield* Effect.option(introspection)
        if (Option.isSome(server) && server.value.pid > 0n) return Number(server.value.pid)
        return yield* Effect.promise(() => findSocketOwner(address))
      })
    )

    return {
      type: Type,
      api: address,
      id: Effect.map(introspection, (server) => server.uuid),
      version: Effect.map(
        connection.call("Version.Version", (clients, o) => clients.version.version({}, o)),
        (response) => `${response.version} ${response.revision}`
      ),
      pid,
      list,
      survey,
      inspect,
      subscribe,
      openSubscription,
      checkProcess,
      lifecycleEvents: Stream.unwrap(subscribe),
      resolveStarted,
      client: connection.clients,
      skippedEvents: skipped.counts,
      replacedTexts: Effect.sync(() => replacedTexts)
    }
  })

/**
 * The engine as an EngineClient layer; provide a connection, a namespace filter and a label
 * mapping (and optionally an enricher) — or use {@link layerConfig}.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { ContainerdConnection, ContainerdEngine, LabelMapping, NamespaceFilter } from "effect-whalewatcher/containerd"
 *
 * const engine = ContainerdEngine.layer().pipe(
 *   Layer.provide(ContainerdConnection.layer({ address: "/run/containerd/containerd.sock" })),
 *   Layer.provide(NamespaceFilter.only(["default", "shop"])),
 *   Layer.provide(LabelMapping.layer)
 * )
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: ContainerdEngineOptions = {}
): Layer.Layer<EngineClient, never, ContainerdConnection | NamespaceFilter.NamespaceFilter | LabelMapping.LabelMapping> =>
  Layer.effect(EngineClient, make(options))

/**
 * Everything in one layer, from plain options: the connection (address option, else
 * `CONTAINERD_ADDRESS`, else the default socket), the namespace filter and the label mapping.
 *
 * @example
 * ```ts
 * import { ContainerdEngine } from "effect-whalewatcher/containerd"
 *
 * const engine = ContainerdEngine.layerConfig({ ignoreAlsoNamespaces: ["buildkit"] })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: ContainerdEngineOptions & ContainerdConnectionOptions & {
    /** Watch only these namespaces. */
    readonly onlyNamespaces?: ReadonlyArray<string> | undefined
    /** Replace the ignored namespaces (default: moby, plugins.moby, k8s.io). */
    readonly ignoreNamespaces?: ReadonlyArray<string> | undefined
    /** Ignore these namespaces in addition to the default ones. */
    readonly ignoreAlsoNamespaces?: ReadonlyArray<string> | undefined
    /** The label holding a container's name; default `nerdctl/name`. */
    readonly nameLabel?: string | undefined
    /** The label holding a container's compose project; default `com.docker.compose.project`. */
    readonly projectLabel?: string | undefined
  } = {}
): Layer.Layer<EngineClient, Config.ConfigError> =>
  layer(options).pipe(
    Layer.provide(connectionLayerConfig(options)),
    Layer.provide(namespaceFilterOf({
      only: options.onlyNamespaces,
      ignore: options.ignoreNamespaces,
      ignoreAlso: options.ignoreAlsoNamespaces
    })),
    Layer.provide(LabelMapping.fromLabels({ nameLabel: options.nameLabel, projectLabel: options.projectLabel }))
  )
