/**
 * The Watcher: an always-correct live portfolio of the containers alive on a host. It lists the
 * engine's containers once and then follows the engine's lifecycle events; when the connection
 * breaks it reconnects on a schedule and announces only what changed meanwhile.
 *
 * How a sync works, and why it leaves no gaps:
 * 1. subscribe to engine events, and wait until the subscription is live;
 * 2. list the alive containers (events arriving meanwhile are buffered);
 * 3. apply the buffered events to the list (see {@link Portfolio.skipReflected}), then replace
 *    the portfolio in one step: the old one stays visible until the new one is complete
 *    (make-before-break), and after a reconnect the {@link Portfolio.diff} is announced;
 * 4. follow the events, applying the rules of {@link Portfolio.applyEvent} and
 *    {@link Portfolio.applyStarted}.
 * Each attempt runs in its own scope: a failed attempt's subscription, list and look-ups are
 * interrupted before the next attempt starts.
 *
 * Events fan out through a sliding PubSub: publishing never waits for a subscriber, so a slow
 * one cannot stall the Watcher or the others. A subscriber that falls more than `eventCapacity`
 * events behind learns it from a typed {@link EventsLagged} failure (by default) and can
 * re-read the portfolio; with `onLag: "slide"` it silently skips the oldest events instead.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Context,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { EngineClient } from "./EngineClient.ts"
import type { EngineError } from "./EngineError.ts"
import * as EventHub from "./internal/eventHub.ts"
import { type TaggedErrorClass, taggedError } from "./internal/taggedError.ts"
import * as WatcherSync from "./internal/watcherSync.ts"
import type * as Portfolio from "./Portfolio.ts"

// ---------------------------------------------------------------------------------------------
// Events, status, errors
// ---------------------------------------------------------------------------------------------

/**
 * A lifecycle change the Watcher announces: `Started`, `Exited`, `Paused`, `Unpaused` or
 * `Updated`, each carrying the whole container and the engine's timestamp (for changes found by
 * a resync after a reconnect: the time of the resync).
 *
 * @category models
 * @since 0.1.0
 */
export type WatcherEvent = Portfolio.Change & {
  /** When the engine says it happened, or when a resync noticed it. */
  readonly timestamp: DateTime.Utc
}

/**
 * The Watcher is taking a fresh list (initially, or after the connection broke).
 *
 * @category models
 * @since 0.1.0
 */
export interface Syncing {
  /** The status's kind. */
  readonly _tag: "Syncing"
  /** 1 for the first attempt after start or after the last successful sync. */
  readonly attempt: number
}

/**
 * The portfolio is current and follows the engine's events.
 *
 * @category models
 * @since 0.1.0
 */
export interface Live {
  /** The status's kind. */
  readonly _tag: "Live"
  /** When the last successful sync completed. */
  readonly since: DateTime.Utc
}

/**
 * The last attempt failed; the next one starts at `nextAttemptAt`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Retrying {
  /** The status's kind. */
  readonly _tag: "Retrying"
  /** Why the last attempt failed. */
  readonly error: EngineError
  /** The number of the next attempt (counted since the last successful sync). */
  readonly attempt: number
  /** How long the Watcher waits before the next attempt. */
  readonly delay: Duration.Duration
  /** When the next attempt starts. */
  readonly nextAttemptAt: DateTime.Utc
}

/**
 * The Watcher gave up (its retry schedule ended, e.g. on an error that is not retryable). The
 * portfolio keeps its last value; event streams end.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stopped {
  /** The status's kind. */
  readonly _tag: "Stopped"
  /** Why it stopped. */
  readonly cause: Cause.Cause<EngineError>
}

/**
 * What the Watcher is doing.
 *
 * @category models
 * @since 0.1.0
 */
export type Status = Syncing | Live | Retrying | Stopped

/**
 * Fields of {@link EventsLagged}.
 *
 * @category errors
 * @since 0.1.0
 */
export interface EventsLaggedFields {
  /** How many events this subscriber missed. */
  readonly missed: number
  /** The configured event capacity it fell behind by. */
  readonly capacity: number
}

const EventsLaggedBase: TaggedErrorClass<"EventsLagged", EventsLaggedFields> = taggedError("EventsLagged")

/**
 * An event subscriber fell more than `capacity` events behind and missed some. Its view is no
 * longer complete: re-read the portfolio (e.g. {@link WatcherShape.subscribe} again).
 *
 * @category errors
 * @since 0.1.0
 */
export class EventsLagged extends EventsLaggedBase {
  /** A sentence for people: how far behind the subscriber fell. */
  override get message(): string {
    return `an event subscriber fell more than ${this.capacity} events behind and missed ${this.missed}`
  }
}

/**
 * A portfolio together with the events that follow it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Subscription {
  /** The portfolio at the moment of subscribing. */
  readonly portfolio: Portfolio.Portfolio
  /**
   * Every event after `portfolio`, in order: replaying them onto it with
   * {@link Portfolio.applyChange} gives the Watcher's current portfolio. Run it once.
   */
  readonly events: Stream.Stream<WatcherEvent, EventsLagged>
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/**
 * A value the Watcher keeps, read-only: its current value, and a stream of its versions.
 *
 * @example
 * ```ts
 * import { Console, Effect, Stream } from "effect"
 * import { Portfolio, Watcher } from "effect-whalewatcher"
 *
 * const program = Effect.gen(function*() {
 *   const watcher = yield* Watcher.Watcher
 *   const now = yield* watcher.portfolio.get
 *   yield* Console.log(`${Portfolio.size(now)} containers alive`)
 *   // the current status first, then each new one
 *   yield* watcher.status.changes.pipe(Stream.runForEach((status) => Console.log(status._tag)))
 * })
 * ```
 * @category models
 * @since 0.1.0
 */
export interface View<A> {
  /** The current value. */
  readonly get: Effect.Effect<A>
  /** The current value, then every later version, for as long as the stream runs. */
  readonly changes: Stream.Stream<A>
}

/**
 * What the Watcher offers.
 *
 * @category models
 * @since 0.1.0
 */
export interface WatcherShape {
  /**
   * The current portfolio (`get`), and a stream of its versions (`changes`). Versions share
   * structure, so a slow reader of `changes` costs little memory.
   */
  readonly portfolio: View<Portfolio.Portfolio>
  /**
   * The lifecycle events from the moment the stream starts running, one subscription per run.
   * A subscriber never slows the Watcher or other subscribers: one that falls `eventCapacity`
   * events behind fails with {@link EventsLagged} (or, with `onLag: "slide"`, silently misses
   * the oldest). Ends when the Watcher stops.
   */
  readonly events: Stream.Stream<WatcherEvent, EventsLagged>
  /** The current portfolio and the events that follow it, without a gap or an overlap. */
  readonly subscribe: Effect.Effect<Subscription, never, Scope.Scope>
  /** Completes after the first successful sync; fails if the Watcher stops before one. */
  readonly ready: Effect.Effect<void, EngineError>
  /**
   * What the Watcher is doing (`get`), and a stream of its changes (`changes`): syncing, live,
   * retrying (with the last error), or stopped.
   */
  readonly status: View<Status>
}

/**
 * The Watcher service.
 *
 * @example
 * ```ts
 * import { Console, Effect, Stream } from "effect"
 * import { Portfolio, Watcher } from "effect-whalewatcher"
 *
 * const program = Effect.gen(function*() {
 *   const watcher = yield* Watcher.Watcher
 *   yield* watcher.ready
 *   const { portfolio, events } = yield* watcher.subscribe
 *   yield* Console.log(`${Portfolio.size(portfolio)} containers alive`)
 *   yield* events.pipe(Stream.runForEach((event) => Console.log(event._tag, event.container.name)))
 * })
 * // provide Watcher.layer() and an EngineClient, e.g. ContainerdEngine.layerConfig()
 * ```
 * @category services
 * @since 0.1.0
 */
export const Watcher: Context.Service<Watcher, WatcherShape> = Context.Service<Watcher, WatcherShape>(
  "effect-whalewatcher/Watcher"
)

/**
 * The identifier type of the {@link Watcher} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface Watcher {
  /** Brands the identifier type; no value has it. */
  readonly _: unique symbol
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * What a subscriber that falls behind gets:
 * - `"fail"`: its stream fails with {@link EventsLagged}, so it knows its view is incomplete;
 * - `"slide"`: it silently misses the oldest events it has not taken yet.
 *
 * @category models
 * @since 0.1.0
 */
export type LagStrategy = "fail" | "slide"

/**
 * Options of the Watcher.
 *
 * @category models
 * @since 0.1.0
 */
export interface WatcherOptions {
  /**
   * When to retry after a failed attempt; its input is the attempt's error. It restarts after
   * every successful sync. Default: {@link retrySchedule}`()`.
   */
  readonly retry?: Schedule.Schedule<unknown, EngineError> | undefined
  /** How many events a subscriber may fall behind (default 1024). */
  readonly eventCapacity?: number | undefined
  /** What happens to a subscriber that falls further behind (default `"fail"`). */
  readonly onLag?: LagStrategy | undefined
  /** How many look-ups (`resolveStarted`, `checkProcess`) run at once (default 8). */
  readonly resolveConcurrency?: number | undefined
  /**
   * Apply task events as they come, without checking exits, pauses and resumes (and starts)
   * against the engine's `checkProcess`: one RPC less per event, but any client of the engine's
   * socket can then make the portfolio wrong until the next sync. Default false.
   */
  readonly trustEvents?: boolean | undefined
  /**
   * How soon a container whose state the engine could not tell (containerd: its shim did not
   * answer) is checked again, by a resync; default 2 seconds. Until then it keeps its last known
   * state, or is left out by a watcher that never saw it.
   */
  readonly recheckUndetermined?: Duration.Input | undefined
}

/**
 * The default retry schedule, tunable: exponential backoff from `base` by `factor`, capped at
 * `max`, jittered (±20%); retries every error whose `isRetryable` is true, for ever.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import { Watcher } from "effect-whalewatcher"
 *
 * // faster retries, and give up after 10 failed attempts in a row
 * const layer = Watcher.layer({
 *   retry: Watcher.retrySchedule({ base: "50 millis", max: "2 seconds" }).pipe(Schedule.upTo({ times: 10 }))
 * })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const retrySchedule = (options: {
  /** The first delay (default 250 ms). */
  readonly base?: Duration.Input | undefined
  /** The longest delay before jitter (default 10 s). */
  readonly max?: Duration.Input | undefined
  /** Growth per attempt (default 2). */
  readonly factor?: number | undefined
} = {}): Schedule.Schedule<Duration.Duration, EngineError> =>
  Schedule.min([
    Schedule.exponential(options.base ?? "250 millis", options.factor ?? 2),
    Schedule.spaced(options.max ?? "10 seconds")
  ]).pipe(
    Schedule.jittered,
    Schedule.setInputType<EngineError>(),
    Schedule.while(({ input }) => input.isRetryable)
  )

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

/** A failure's kind for the log: the error's tag and, for an unavailable engine, its reason. */
const failureKind = (error: EngineError): string =>
  error._tag === "EngineUnavailable" ? `${error._tag}/${error.reason}` : error._tag

/** The read-only face of a SubscriptionRef the Watcher alone sets. */
const viewOf = <A>(ref: SubscriptionRef.SubscriptionRef<A>): View<A> => ({
  get: SubscriptionRef.get(ref),
  changes: SubscriptionRef.changes(ref)
})

/**
 * Starts a Watcher in the current scope (the scope's end stops it and ends every subscription).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: WatcherOptions = {}
): Effect.Effect<WatcherShape, never, EngineClient | Scope.Scope> =>
  Effect.gen(function*() {
    const engine = yield* EngineClient
    const capacity = options.eventCapacity ?? 1024
    const hub = yield* EventHub.make({
      capacity,
      onLag: options.onLag ?? "fail",
      lagged: (missed) => new EventsLagged({ missed, capacity })
    })
    const sync = WatcherSync.make(engine, hub, {
      resolveConcurrency: options.resolveConcurrency ?? 8,
      trustEvents: options.trustEvents ?? false,
      recheckDelay: options.recheckUndetermined ?? "2 seconds"
    })
    const status = yield* SubscriptionRef.make<Status>({ _tag: "Syncing", attempt: 1 })
    const ready = yield* Deferred.make<void, EngineError>()

    const stop = (cause: Cause.Cause<EngineError>) =>
      Effect.gen(function*() {
        yield* Effect.logError("effect-whalewatcher: the watcher stopped", cause)
        yield* SubscriptionRef.set(status, { _tag: "Stopped", cause })
        yield* Deferred.failCause(ready, cause)
        yield* hub.end
      })

    yield* Effect.forkScoped(retryLoop(engine.api, options.retry ?? retrySchedule(), {
      attempt: (number, firstSync, onSynced) =>
        Effect.andThen(
          SubscriptionRef.set(status, { _tag: "Syncing", attempt: number }),
          sync.attempt(firstSync, (now) =>
            Effect.andThen(onSynced, Effect.andThen(
              SubscriptionRef.set(status, { _tag: "Live", since: now }),
              Deferred.succeed(ready, undefined)
            )))
        ),
      retrying: (retrying) => SubscriptionRef.set(status, retrying),
      stop
    }))

    return {
      portfolio: viewOf(hub.portfolio),
      events: Stream.unwrap(Effect.map(hub.subscribe, (subscription) => subscription.events)),
      subscribe: hub.subscribe,
      ready: Deferred.await(ready),
      status: viewOf(status)
    }
  })

/** What the retry loop drives. */
interface RetryLoopSteps {
  /** Attempt `number` (since the last successful sync); `onSynced` runs once its sync is published. */
  readonly attempt: (number: number, firstSync: boolean, onSynced: Effect.Effect<void>) => Effect.Effect<void, EngineError>
  /** Announces the wait before the next attempt (its timer already runs). */
  readonly retrying: (status: Retrying) => Effect.Effect<void>
  /** Ends the Watcher: the schedule gave up, or an attempt died. */
  readonly stop: (cause: Cause.Cause<EngineError>) => Effect.Effect<void>
}

/**
 * Runs attempts for ever, waiting between failed ones as `schedule` says; the schedule restarts
 * after every successful sync. Logs one warning per kind of failure until the next sync.
 */
const retryLoop = (
  api: string,
  schedule: Schedule.Schedule<unknown, EngineError>,
  steps: RetryLoopSteps
): Effect.Effect<void> =>
  Effect.gen(function*() {
    let step = yield* Schedule.toStep(schedule)
    let everSynced = false
    let failedAttempts = 0
    // The kinds of failure warned about since the Watcher was last live: one warning per kind,
    // not one per retry, so that a long outage says what it waits for without flooding the log.
    const warned = new Set<string>()
    while (true) {
      let synced = false
      const onSynced = Effect.suspend(() => {
        const recovered = warned.size > 0
        synced = everSynced = true
        warned.clear()
        return recovered ? Effect.logInfo(`effect-whalewatcher: live again on ${api}`) : Effect.void
      })
      const exit = yield* Effect.exit(steps.attempt(failedAttempts + 1, !everSynced, onSynced))
      if (synced) {
        // Reset after every successful sync: a long healthy period must not use up the schedule.
        step = yield* Schedule.toStep(schedule)
        failedAttempts = 0
      }
      if (Exit.isSuccess(exit)) continue
      const error = Cause.findErrorOption(exit.cause)
      if (Option.isNone(error)) return yield* steps.stop(exit.cause)
      failedAttempts++
      const now = yield* Clock.currentTimeMillis
      const next = yield* Effect.exit(step(now, error.value))
      if (Exit.isFailure(next)) return yield* steps.stop(Cause.fail(error.value))
      const delay = next.value[1]
      const kind = failureKind(error.value)
      if (!warned.has(kind)) {
        warned.add(kind)
        yield* Effect.logWarning(
          `effect-whalewatcher: ${error.value.message}; retrying until it works (further failures of this kind are logged at debug level)`
        )
      } else {
        yield* Effect.logDebug("effect-whalewatcher: retrying", error.value)
      }
      // The timer starts before the status tells: whoever sees "Retrying" (e.g. a test moving
      // a TestClock on) can rely on it. No timer for a zero delay: at once is at once.
      const wait = yield* Effect.forkChild(Duration.isZero(delay) ? Effect.yieldNow : Effect.sleep(delay), {
        startImmediately: true
      })
      yield* steps.retrying({
        _tag: "Retrying",
        error: error.value,
        attempt: failedAttempts + 1,
        delay,
        nextAttemptAt: DateTime.makeUnsafe(now + Duration.toMillis(delay))
      })
      yield* Fiber.join(wait)
    }
  })

/**
 * The Watcher as a layer; provide an {@link EngineClient} (e.g. `ContainerdEngine.layerConfig()`,
 * or `FakeEngine` in tests). Closing the layer's scope stops the Watcher.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Watcher } from "effect-whalewatcher"
 * import { ContainerdEngine } from "effect-whalewatcher/containerd"
 *
 * const WatcherLive = Watcher.layer({ eventCapacity: 4096 }).pipe(Layer.provide(ContainerdEngine.layerConfig()))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: WatcherOptions = {}): Layer.Layer<Watcher, never, EngineClient> =>
  Layer.effect(Watcher, make(options))
