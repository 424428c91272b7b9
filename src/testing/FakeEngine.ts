/**
 * A scriptable container engine in memory, behind the engine-neutral {@link EngineClient}
 * interface: create, start, exit, pause, resume, relabel and remove containers, and every live
 * subscription receives the matching events, as from a real engine. Tests can also script the
 * awkward moments: changes made while a list is being taken, slow or failing calls, dropped
 * event streams; and count the calls made.
 *
 * {@link watcherLayer} gives apps built on effect-whalewatcher a real Watcher on top of the fake,
 * to test themselves without a container engine.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Portfolio, Watcher } from "effect-whalewatcher"
 * import { FakeEngine } from "effect-whalewatcher/testing"
 *
 * const fake = FakeEngine.make()
 * fake.add({ id: "web", labels: { "com.docker.compose.project": "shop" } })
 *
 * const program = Effect.gen(function*() {
 *   const watcher = yield* Watcher.Watcher
 *   yield* watcher.ready
 *   return Portfolio.projectNames(yield* watcher.portfolio.get) // ["", "shop"]
 * }).pipe(Effect.provide(FakeEngine.watcherLayer(fake)))
 * ```
 * @since 0.1.0
 */
import { Cause, DateTime, Deferred, Duration, Effect, Exit, Layer, Queue, type Scope, Stream } from "effect"
import type { Container } from "../Container.ts"
import * as DisplayId from "../containerd/DisplayId.ts"
import * as LabelMapping from "../containerd/LabelMapping.ts"
import type { ContainerEvent, Started } from "../ContainerEvent.ts"
import { EngineClient, type EngineClientShape, type EngineSubscription, type ProcessCheck } from "../EngineClient.ts"
import { ContainerNotFound, type EngineError, EngineUnavailable, ProcesslessContainer } from "../EngineError.ts"
import * as Portfolio from "../Portfolio.ts"
import * as Watcher from "../Watcher.ts"

/**
 * The EngineClient operations the fake counts, slows down and fails on request.
 *
 * @category models
 * @since 0.1.0
 */
export type Operation = "list" | "subscribe" | "resolveStarted" | "inspect" | "checkProcess"

/**
 * One step of a call, as recorded in {@link FakeEngine.journal}.
 *
 * @category models
 * @since 0.1.0
 */
export interface JournalEntry {
  /** Which engine operation. */
  readonly operation: Operation
  /** The call's number per operation, from 1. */
  readonly call: number
  /** What happened to the call at this point. */
  readonly phase: "start" | "success" | "failure" | "interrupt"
}

/**
 * Changes to make while a list is in flight: `before` runs just before the list's snapshot is
 * taken (its changes are in the list, and their events reach the live subscriptions), `after`
 * just after it (its changes are not in the list).
 *
 * @category models
 * @since 0.1.0
 */
export interface ListHooks {
  /** Runs just before the list's snapshot is taken. */
  readonly before?: (() => void) | undefined
  /** Runs just after the list's snapshot is taken. */
  readonly after?: (() => void) | undefined
}

/**
 * What a container is made of when it is created.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerSpec {
  /** The display ID. */
  readonly id: string
  /** The container's labels (default none). */
  readonly labels?: Readonly<Record<string, string>> | undefined
  /** Default `"default"`. */
  readonly namespace?: string | undefined
}

/**
 * How the fake derives a container's name and project from its labels. By default it follows the
 * containerd engine's default {@link LabelMapping.make | label mapping}, applied to the display ID:
 * the name from `nerdctl/name` when it is set and not empty, else the ID, with the ID's
 * `namespace/` prefix (`shop/db` labelled `database` is named `shop/database`); the project from
 * `com.docker.compose.project`, else `""`.
 *
 * @category models
 * @since 0.1.0
 */
export interface FakeLabelMapping {
  /** The container's name. */
  readonly name: (id: string, labels: Readonly<Record<string, string>>) => string
  /** The container's compose project ("" for none). */
  readonly project: (labels: Readonly<Record<string, string>>) => string
}

/**
 * Options of {@link make}.
 *
 * @category models
 * @since 0.1.0
 */
export interface FakeEngineOptions {
  /** How names and projects come from labels (default: nerdctl and compose labels). */
  readonly labelMapping?: FakeLabelMapping | undefined
  /** The PID of the first started process (default 1000); each start takes the next one. */
  readonly firstPid?: number | undefined
  /** The address the fake reports and names in its errors (default `"fake://engine"`). */
  readonly address?: string | undefined
  /**
   * How many scheduler turns each event spends on its way to each subscription (called once per
   * event and subscription; default: none, the event is there at once). Events keep their order.
   * Real engines deliver events some time after the change, e.g. after a list already shows it.
   */
  readonly deliveryDelay?: (() => number) | undefined
}

/** containerd's default mapping, applied to the parts of the fake's display IDs. */
const containerdMapping: LabelMapping.LabelMappingShape = LabelMapping.make()

const defaultLabelMapping: FakeLabelMapping = {
  name: (id, labels) => {
    const parts = DisplayId.parse(id)
    return containerdMapping.name(parts.namespace, parts.id, labels)
  },
  project: (labels) => containerdMapping.project(DisplayId.DefaultNamespace, labels)
}

interface ContainerRecord {
  readonly id: string
  readonly namespace: string
  labels: Readonly<Record<string, string>>
  /** The initial process, while the container is alive. */
  task: { pid: number; paused: boolean } | undefined
}

interface Subscriber {
  /** Where the fake puts events; the subscription's own queue unless events are delayed. */
  readonly inbound: Queue.Queue<ContainerEvent, EngineError | Cause.Done>
  readonly broken: Deferred.Deferred<never, EngineError>
}

/**
 * The fake engine. Its state-changing methods are synchronous (usable anywhere, e.g. in list
 * hooks) and throw on impossible transitions (starting a running container, pausing a stopped one).
 *
 * @category models
 * @since 0.1.0
 */
export class FakeEngine {
  /** How many calls each operation received. */
  readonly calls: Record<Operation, number> = { list: 0, subscribe: 0, resolveStarted: 0, inspect: 0, checkProcess: 0 }
  /** Every call's start and end, in order. */
  readonly journal: Array<JournalEntry> = []
  /** Delays added to calls, per operation (they use the Effect clock: a TestClock controls them). */
  readonly delays: Partial<Record<Operation, Duration.Input>> = {}
  /** Every event the fake sent (to live subscriptions or not), in order. */
  readonly history: Array<ContainerEvent> = []
  /** The address reported and named in errors. */
  readonly address: string
  /** This fake as an EngineClient (see {@link layer}). */
  readonly engine: EngineClientShape

  readonly #labelMapping: FakeLabelMapping
  readonly #containers = new Map<string, ContainerRecord>()
  readonly #live = new Set<Subscriber>()
  readonly #failures: Record<Operation, Array<{ readonly error: EngineError; remaining: number }>> = {
    list: [],
    subscribe: [],
    resolveStarted: [],
    inspect: [],
    checkProcess: []
  }
  readonly #listHooks: Array<ListHooks> = []
  readonly #inFlight: Record<Operation, number> = { list: 0, subscribe: 0, resolveStarted: 0, inspect: 0, checkProcess: 0 }
  readonly #deliveryDelay: (() => number) | undefined
  #openSubscriptions = 0
  #nextPid: number

  /** A fake engine with no containers; see {@link make}. */
  constructor(options: FakeEngineOptions = {}) {
    this.#labelMapping = options.labelMapping ?? defaultLabelMapping
    this.#nextPid = options.firstPid ?? 1000
    this.address = options.address ?? "fake://engine"
    this.#deliveryDelay = options.deliveryDelay
    this.engine = {
      type: "fake",
      api: this.address,
      id: Effect.succeed("fake-engine"),
      version: Effect.succeed("0.0.0-fake"),
      pid: Effect.succeed(undefined),
      list: this.#call("list", () =>
        Effect.sync(() => {
          const hooks = this.#listHooks.shift()
          hooks?.before?.()
          const snapshot = this.containers()
          hooks?.after?.()
          return snapshot
        })),
      inspect: (nameOrId) =>
        this.#call("inspect", () =>
          Effect.suspend((): Effect.Effect<Container, EngineError> => {
            const record = this.#containers.get(nameOrId) ??
              Array.from(this.#containers.values()).find((r) => this.#labelMapping.name(r.id, r.labels) === nameOrId)
            if (record === undefined) return Effect.fail(new ContainerNotFound({ address: this.address, nameOrId }))
            const container = this.#toContainer(record)
            return container === undefined
              ? Effect.fail(new ProcesslessContainer({ address: this.address, id: record.id }))
              : Effect.succeed(container)
          })),
      lifecycleEvents: Stream.unwrap(Effect.suspend(() => this.engine.subscribe)),
      subscribe: this.#call("subscribe", () => Effect.map(this.#subscribe, (s) => Stream.fromQueue(s.events))),
      openSubscription: this.#call("subscribe", () => this.#subscribe),
      checkProcess: (id) =>
        this.#call("checkProcess", () =>
          Effect.sync((): ProcessCheck => {
            const task = this.#containers.get(id)?.task
            return task === undefined ? { _tag: "Gone" } : { _tag: "Alive", pid: task.pid, paused: task.paused }
          })),
      // Like containerd: the container's current labels, the PID from the event (not checked).
      resolveStarted: (event: Started) =>
        this.#call("resolveStarted", () =>
          Effect.suspend(() => {
            const record = this.#containers.get(event.id)
            if (record === undefined) {
              return Effect.fail(new ContainerNotFound({ address: this.address, nameOrId: event.id }))
            }
            return Effect.succeed<Container>({
              ...this.#describe(record),
              pid: event.pid,
              paused: false
            })
          })),
      client: this
    }
  }

  // -------------------------------------------------------------------------------------------
  // The engine's state
  // -------------------------------------------------------------------------------------------

  /** Creates a container without a process (not alive). */
  create(spec: ContainerSpec): void {
    if (this.#containers.has(spec.id)) throw new Error(`FakeEngine: container ${spec.id} exists`)
    this.#containers.set(spec.id, {
      id: spec.id,
      namespace: spec.namespace ?? "default",
      labels: spec.labels ?? {},
      task: undefined
    })
  }

  /** Starts a created container's initial process; returns its PID. */
  start(id: string, options: { readonly pid?: number | undefined } = {}): number {
    const record = this.#record(id)
    if (record.task !== undefined) throw new Error(`FakeEngine: container ${id} is running`)
    const pid = options.pid ?? this.#nextPid++
    record.task = { pid, paused: false }
    this.#emit({ _tag: "Started", ...this.#eventBase(record), pid })
    return pid
  }

  /** Creates and starts a container (optionally paused); returns it as listed. */
  add(spec: ContainerSpec & { readonly pid?: number | undefined; readonly paused?: boolean | undefined }): Container {
    this.create(spec)
    this.start(spec.id, { pid: spec.pid })
    if (spec.paused === true) this.pause(spec.id)
    return this.#toContainer(this.#record(spec.id))!
  }

  /** The initial process exits: the container is no longer alive (it still exists). */
  exit(id: string, options: { readonly exitStatus?: number | undefined } = {}): void {
    const record = this.#record(id)
    if (record.task === undefined) throw new Error(`FakeEngine: container ${id} is not running`)
    const pid = record.task.pid
    record.task = undefined
    this.#emit({ _tag: "Exited", ...this.#eventBase(record), pid, exitStatus: options.exitStatus ?? 0 })
  }

  /** Pauses a running container. */
  pause(id: string): void {
    const task = this.#runningTask(id)
    if (task.paused) throw new Error(`FakeEngine: container ${id} is paused`)
    task.paused = true
    this.#emit({ _tag: "Paused", ...this.#eventBase(this.#record(id)) })
  }

  /** Resumes a paused container. */
  resume(id: string): void {
    const task = this.#runningTask(id)
    if (!task.paused) throw new Error(`FakeEngine: container ${id} is not paused`)
    task.paused = false
    this.#emit({ _tag: "Unpaused", ...this.#eventBase(this.#record(id)) })
  }

  /** Replaces a container's labels (running or not), which may change its name and project. */
  relabel(id: string, labels: Readonly<Record<string, string>>): void {
    const record = this.#record(id)
    record.labels = labels
    this.#emit({
      _tag: "Updated",
      ...this.#eventBase(record),
      labels,
      name: this.#labelMapping.name(id, labels),
      project: this.#labelMapping.project(labels)
    })
  }

  /** Deletes a container, ending its process first if it is alive. */
  remove(id: string): void {
    if (this.#record(id).task !== undefined) this.exit(id, { exitStatus: 137 })
    this.#containers.delete(id)
  }

  /** True while the container exists (alive or not). */
  exists(id: string): boolean {
    return this.#containers.has(id)
  }

  /** True while the container is alive. */
  isAlive(id: string): boolean {
    return this.#containers.get(id)?.task !== undefined
  }

  /** True while the container is alive and paused. */
  isPaused(id: string): boolean {
    return this.#containers.get(id)?.task?.paused === true
  }

  /** All existing container IDs, alive or not. */
  ids(): ReadonlyArray<string> {
    return Array.from(this.#containers.keys())
  }

  /** The alive containers, as a list would return them (the fake's truth). */
  containers(): ReadonlyArray<Container> {
    const alive: Array<Container> = []
    for (const record of this.#containers.values()) {
      const container = this.#toContainer(record)
      if (container !== undefined) alive.push(container)
    }
    return alive
  }

  /** The fake's truth as a portfolio. */
  portfolio(): Portfolio.Portfolio {
    return Portfolio.fromContainers(this.containers())
  }

  // -------------------------------------------------------------------------------------------
  // Scripting faults
  // -------------------------------------------------------------------------------------------

  /** Runs `hooks` during the next list call that has no hooks yet (one set per call, in order). */
  onList(hooks: ListHooks): void {
    this.#listHooks.push(hooks)
  }

  /** Forgets the list hooks no list call has used yet. */
  clearListHooks(): void {
    this.#listHooks.length = 0
  }

  /**
   * Fails the next `times` calls of `operation` (after their delay) with `error` (default: the
   * engine is unavailable, `ConnectionLost`). `times` may be `Infinity`; {@link heal} undoes it.
   */
  failNext(operation: Operation, error?: EngineError, times = 1): void {
    if (times <= 0) return
    const failure = error ?? this.#connectionLost(operation, "failure injected by the test")
    this.#failures[operation].push({ error: failure, remaining: times })
  }

  /** Forgets all pending failures. */
  heal(): void {
    for (const failures of Object.values(this.#failures)) failures.length = 0
  }

  /**
   * Ends every live subscription with `EngineUnavailable` (`ConnectionLost`), as when the
   * engine's connection breaks; events emitted before are still delivered.
   */
  disconnect(): void {
    for (const subscriber of this.#live) {
      const cause = Cause.fail(this.#connectionLost("subscribe", "disconnected by the test"))
      Queue.failCauseUnsafe(subscriber.inbound, cause)
      Deferred.doneUnsafe(subscriber.broken, Exit.failCause(cause))
    }
    this.#live.clear()
  }

  /**
   * Sends an event to the live subscriptions without changing the fake's state: a late,
   * duplicate or stray event, as real engines sometimes deliver.
   */
  emit(event: ContainerEvent): void {
    this.#emit(event)
  }

  /** Subscriptions not yet released by their scope (live or disconnected). */
  get openSubscriptions(): number {
    return this.#openSubscriptions
  }

  /** Subscriptions that receive events now. */
  get liveSubscriptions(): number {
    return this.#live.size
  }

  /** Calls of `operation` started and not yet ended. */
  inFlight(operation: Operation): number {
    return this.#inFlight[operation]
  }

  // -------------------------------------------------------------------------------------------
  // The EngineClient
  // -------------------------------------------------------------------------------------------


  get #subscribe(): Effect.Effect<EngineSubscription, never, Scope.Scope> {
    return Effect.gen({ self: this }, function*() {
      const events = yield* Queue.unbounded<ContainerEvent, EngineError | Cause.Done>()
      const broken = yield* Deferred.make<never, EngineError>()
      const delay = this.#deliveryDelay
      let inbound = events
      if (delay !== undefined) {
        // One forwarder per subscription keeps the order; each event waits its own turns.
        inbound = yield* Queue.unbounded<ContainerEvent, EngineError | Cause.Done>()
        const delayed = inbound
        yield* Effect.gen(function*() {
          while (true) {
            const event = yield* Queue.take(delayed)
            for (let turns = delay(); turns > 0; turns--) yield* Effect.yieldNow
            Queue.offerUnsafe(events, event)
          }
        }).pipe(
          Effect.catchCause((cause) => Queue.failCause(events, cause)),
          Effect.forkScoped
        )
      }
      const subscriber: Subscriber = { inbound, broken }
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          this.#openSubscriptions++
          this.#live.add(subscriber)
        }),
        () =>
          Effect.sync(() => {
            this.#openSubscriptions--
            this.#live.delete(subscriber)
          })
      )
      return { events, broken: Deferred.await(broken) }
    })
  }

  #call<A, R>(operation: Operation, body: () => Effect.Effect<A, EngineError, R>): Effect.Effect<A, EngineError, R> {
    return Effect.suspend(() => {
      const call = ++this.calls[operation]
      this.#inFlight[operation]++
      this.journal.push({ operation, call, phase: "start" })
      const delay = this.delays[operation]
      return Effect.andThen(
        delay === undefined ? Effect.void : Effect.sleep(delay),
        Effect.suspend(() => {
          const failures = this.#failures[operation]
          const failure = failures[0]
          if (failure === undefined) return body()
          if (--failure.remaining <= 0) failures.shift()
          return Effect.fail(failure.error)
        })
      ).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            this.#inFlight[operation]--
            const phase = exit._tag === "Success"
              ? "success"
              : Cause.hasInterruptsOnly(exit.cause)
              ? "interrupt"
              : "failure"
            this.journal.push({ operation, call, phase })
          })
        )
      )
    })
  }

  #record(id: string): ContainerRecord {
    const record = this.#containers.get(id)
    if (record === undefined) throw new Error(`FakeEngine: no container ${id}`)
    return record
  }

  #runningTask(id: string): { pid: number; paused: boolean } {
    const task = this.#record(id).task
    if (task === undefined) throw new Error(`FakeEngine: container ${id} is not running`)
    return task
  }

  #describe(record: ContainerRecord): Omit<Container, "pid" | "paused"> {
    return {
      id: record.id,
      name: this.#labelMapping.name(record.id, record.labels),
      labels: record.labels,
      project: this.#labelMapping.project(record.labels),
      namespace: record.namespace
    }
  }

  #toContainer(record: ContainerRecord): Container | undefined {
    return record.task === undefined
      ? undefined
      : { ...this.#describe(record), pid: record.task.pid, paused: record.task.paused }
  }

  // containerd's task events carry neither name nor project
  #eventBase(record: ContainerRecord): { timestamp: DateTime.Utc; id: string; namespace: string } {
    return { timestamp: DateTime.nowUnsafe(), id: record.id, namespace: record.namespace }
  }

  #emit(event: ContainerEvent): void {
    this.history.push(event)
    for (const subscriber of this.#live) Queue.offerUnsafe(subscriber.inbound, event)
  }

  #connectionLost(operation: Operation, detail: string): EngineUnavailable {
    return new EngineUnavailable({ address: this.address, operation, reason: "ConnectionLost", detail })
  }
}

/**
 * A new, empty fake engine.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: FakeEngineOptions = {}): FakeEngine => new FakeEngine(options)

/**
 * The fake as the EngineClient service.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (fake: FakeEngine): Layer.Layer<EngineClient> => Layer.succeed(EngineClient, fake.engine)

/**
 * A real Watcher over the fake (and the fake as EngineClient): inject it where an app needs a
 * Watcher, then drive the fake to test how the app reacts to containers coming and going.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Watcher } from "effect-whalewatcher"
 * import { FakeEngine } from "effect-whalewatcher/testing"
 *
 * const fake = FakeEngine.make()
 * const test = Effect.gen(function*() {
 *   const watcher = yield* Watcher.Watcher
 *   yield* watcher.ready
 *   const { events } = yield* watcher.subscribe
 *   fake.add({ id: "web" })
 *   const [started] = yield* events.pipe(Stream.take(1), Stream.runCollect)
 *   // started._tag === "Started", started.container.id === "web"
 * }).pipe(Effect.scoped, Effect.provide(FakeEngine.watcherLayer(fake)))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const watcherLayer = (
  fake: FakeEngine,
  options: Watcher.WatcherOptions = {}
): Layer.Layer<Watcher.Watcher | EngineClient> => Watcher.layer(options).pipe(Layer.provideMerge(layer(fake)))
