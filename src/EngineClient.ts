/**
 * The engine-neutral interface of a container engine client: list and inspect alive containers,
 * follow their lifecycle events. The Watcher builds on this interface only; the containerd
 * implementation lives in `effect-whalewatcher/containerd`, a scriptable fake in
 * `effect-whalewatcher/testing`.
 *
 * @since 0.1.0
 */
import { type Cause, Context, type Effect, type Queue, type Scope, type Stream } from "effect"
import type { Container } from "./Container.ts"
import type { ContainerEvent, Started } from "./ContainerEvent.ts"
import type { EngineError } from "./EngineError.ts"

/**
 * A live event subscription, handed over as the queue the engine client itself fills: what is in
 * it at any moment is exactly what has reached the client so far, with no forwarding in between.
 *
 * @category models
 * @since 0.1.0
 */
export interface EngineSubscription {
  /** The events, in arrival order; it fails (after the events before) when the subscription breaks. */
  readonly events: Queue.Dequeue<ContainerEvent, EngineError | Cause.Done>
  /** Fails as soon as the subscription breaks (never succeeds): to stop waiting on other work at once. */
  readonly broken: Effect.Effect<never, EngineError>
}

/**
 * The engine's current view of one container's initial process, for checking an event against:
 * `Alive` with its PID and pause state, `Gone` when it has none (exited, never started, or no
 * such container), `Unknown` when the engine cannot tell now.
 *
 * @category models
 * @since 0.1.0
 */
export type ProcessCheck =
  | { readonly _tag: "Alive"; readonly pid: number; readonly paused: boolean }
  | { readonly _tag: "Gone" }
  | { readonly _tag: "Unknown" }

/**
 * What an engine client offers.
 *
 * @category models
 * @since 0.1.0
 */
export interface EngineClientShape {
  /** The engine's type identifier, e.g. `"containerd.io"`. */
  readonly type: string
  /** The engine's API endpoint, e.g. the containerd socket path. */
  readonly api: string
  /** The engine's (more or less) unique identifier; containerd: its persistent Introspection uuid. */
  readonly id: Effect.Effect<string, EngineError>
  /** The engine's version, e.g. `"1.6.20 1.6.20-1"` (version and revision). */
  readonly version: Effect.Effect<string, EngineError>
  /** The engine's PID when known (in this process's PID namespace), else `undefined`. Never fails. */
  readonly pid: Effect.Effect<number | undefined>
  /** All alive containers (running or paused) in the namespaces the client does not ignore. */
  readonly list: Effect.Effect<ReadonlyArray<Container>, EngineError>
  /**
   * Like {@link list}, plus the display IDs of containers whose state the engine cannot tell right
   * now (containerd: a task in state UNKNOWN with no PID, its shim not answering within 2 s).
   * Those are neither alive nor dead: the Watcher keeps what it knew of them and checks again.
   * Optional: an engine without it never reports such containers.
   */
  readonly survey?: Effect.Effect<Survey, EngineError> | undefined
  /**
   * One container by display ID or name. Fails with `ContainerNotFound`, or with
   * `ProcesslessContainer` when the container exists but has no initial process.
   */
  readonly inspect: (nameOrId: string) => Effect.Effect<Container, EngineError>
  /**
   * Lifecycle events from now on, until the stream's scope closes (which also ends the engine's
   * event stream). Same events as {@link subscribe}, without waiting for the subscription.
   */
  readonly lifecycleEvents: Stream.Stream<ContainerEvent, EngineError>
  /**
   * Subscribes to lifecycle events and succeeds only once the subscription is known to be live:
   * every change the engine makes after this effect succeeded is in the returned stream. Events
   * are buffered until consumed; the subscription ends with the given scope.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<ContainerEvent, EngineError>, EngineError, Scope.Scope>
  /**
   * {@link subscribe}, handing over the client's own queue: when something else (e.g. a list)
   * completes, the queue holds exactly the events that arrived before, which the Watcher relies on.
   */
  readonly openSubscription: Effect.Effect<EngineSubscription, EngineError, Scope.Scope>
  /**
   * The current state of a container's initial process, by display ID, at the least cost the
   * engine allows (containerd: one Tasks.Get). The Watcher checks events against it, since any
   * client of an engine's socket may publish events.
   */
  readonly checkProcess: (id: string) => Effect.Effect<ProcessCheck, EngineError>
  /**
   * Completes a `Started` event into a Container at the least cost the engine allows (containerd:
   * one Containers.Get; the PID comes from the event).
   */
  readonly resolveStarted: (event: Started) => Effect.Effect<Container, EngineError>
  /**
   * True when {@link resolveStarted} reads the container's process as it is now (Docker's
   * inspect), so that a start needs no separate {@link checkProcess}. Default false.
   */
  readonly resolveStartedIsCurrent?: boolean | undefined
  /** The engine-specific native client (containerd: its typed gRPC clients). */
  readonly client: unknown
}

/**
 * What {@link EngineClientShape.survey} found.
 *
 * @category models
 * @since 0.1.0
 */
export interface Survey {
  /** The alive containers, as {@link EngineClientShape.list} returns them. */
  readonly alive: ReadonlyArray<Container>
  /** Display IDs of containers whose state the engine cannot tell now (not in `alive`). */
  readonly undetermined: ReadonlyArray<string>
}

/**
 * The engine client service.
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import { EngineClient } from "effect-whalewatcher"
 *
 * const program = Effect.gen(function*() {
 *   const engine = yield* EngineClient.EngineClient
 *   for (const container of yield* engine.list) yield* Console.log(container.name, container.pid)
 * })
 * ```
 * @category services
 * @since 0.1.0
 */
export const EngineClient: Context.Service<EngineClient, EngineClientShape> = Context.Service<
  EngineClient,
  EngineClientShape
>("effect-whalewatcher/EngineClient")

/**
 * The identifier type of the {@link EngineClient} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface EngineClient {
  /** Brands the identifier type; no value has it. */
  readonly _: unique symbol
}
