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
  Array as Arr,
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
  PubSub,
  type Pull,
  Queue,
  Schedule,
  type Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import type * as Container from "./Container.ts"
import type * as ContainerEvent from "./ContainerEvent.ts"
import { EngineClient, type ProcessCheck } from "./EngineClient.ts"
import { type EngineError, EngineUnavailable } from "./EngineError.ts"
import * as Portfolio from "./Portfolio.ts"
import { type TaggedErrorClass, taggedError } from "./internal/taggedError.ts"

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
 * What the Watcher offers.
 *
 * @category models
 * @since 0.1.0
 */
export interface WatcherShape {
  /**
   * The current portfolio, and a stream of its versions (`SubscriptionRef.changes`). Read it;
   * do not set it. Versions share structure, so a slow reader of `changes` costs little memory.
   */
  readonly portfolio: SubscriptionRef.SubscriptionRef<Portfolio.Portfolio>
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
  /** What the Watcher is doing: syncing, live, retrying (with the last error), or stopped. */
  readonly status: SubscriptionRef.SubscriptionRef<Status>
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

/** One published event and its position; `event` undefined marks the end of all events. */
interface Envelope {
  readonly sequence: number
  readonly event: WatcherEvent | undefined
}

const endOfEvents: Envelope = { sequence: -1, event: undefined }

/** A failure's kind for the log: the error's tag and, for an unavailable engine, its reason. */
const failureKind = (error: EngineError): string =>
  error._tag === "EngineUnavailable" ? `${error._tag}/${error.reason}` : error._tag

/**
 * An exit, pause or resume as the engine's process check confirms it: an exit of an instance that is still alive with its PID was not real (a
 * forged event, or a restart under the same PID already under way); a pause or resume of the
 * known instance takes the state the engine reports now. Without a check (or when the engine
 * cannot tell, or the instance changed) the event applies as it is.
 */
const confirmed = (
  portfolio: Portfolio.Portfolio,
  event: ContainerEvent.Exited | ContainerEvent.Paused | ContainerEvent.Unpaused | ContainerEvent.Updated,
  check: ProcessCheck | undefined
): typeof event => {
  if (event._tag === "Updated" || check?._tag !== "Alive") return event
  const known = Portfolio.get(portfolio, event.id)
  if (known === undefined || known.pid !== check.pid) return event
  // An exit of an instance still alive under its PID (forged, or a restart under the same PID
  // already done): not an exit; the instance takes the pause state the engine reports.
  if (event._tag === "Exited") {
    return { _tag: check.paused ? "Paused" : "Unpaused", id: event.id, namespace: event.namespace, timestamp: event.timestamp }
  }
  return { ...event, _tag: check.paused ? "Paused" : "Unpaused" }
}

/** Whether a failed look-up means the container is already gone (then its start is ignored). */
const isGone = (error: EngineError): boolean =>
  error._tag === "ContainerNotFound" || error._tag === "ProcesslessContainer"

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
    const schedule = options.retry ?? retrySchedule()
    const capacity = options.eventCapacity ?? 1024
    const onLag = options.onLag ?? "fail"
    const resolveConcurrency = options.resolveConcurrency ?? 8
    const trustEvents = options.trustEvents ?? false
    const recheckDelay = options.recheckUndetermined ?? "2 seconds"
    const survey = engine.survey ?? Effect.map(engine.list, (alive) => ({ alive, undetermined: [] }))

    const portfolio = yield* SubscriptionRef.make(Portfolio.empty)
    const status = yield* SubscriptionRef.make<Status>({ _tag: "Syncing", attempt: 1 })
    const ready = yield* Deferred.make<void, EngineError>()
    // Sliding: publishing never waits, so a slow subscriber cannot stall the Watcher or others;
    // the sequence numbers let each subscriber notice what it missed.
    const pubsub = yield* PubSub.sliding<Envelope>(capacity)
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    // Held while the portfolio and its events are published, so that `subscribe` sees both or neither.
    const publishing = yield* Semaphore.make(1)
    let nextSequence = 0
    const publishSlice = Math.max(1, Math.floor(capacity / 2))

    const publish = (next: Portfolio.Portfolio, events: ReadonlyArray<WatcherEvent>): Effect.Effect<void> =>
      publishing.withPermit(Effect.uninterruptible(Effect.gen(function*() {
        if (next !== portfolio.value) yield* SubscriptionRef.set(portfolio, next)
        // In slices, giving subscribers a turn in between: a burst larger than the capacity
        // (e.g. a resync) must not make every subscriber lag, only those that cannot keep up.
        for (let offset = 0; offset < events.length; offset += publishSlice) {
          if (offset > 0) yield* Effect.yieldNow
          const slice = events.slice(offset, offset + publishSlice)
          yield* PubSub.publishAll(pubsub, slice.map((event) => ({ sequence: nextSequence++, event })))
        }
      })))

    /**
     * The events of one PubSub subscription, taken in batches (all that are waiting): a run that
     * stops early drops the rest of its batch, which is why a subscription is run once.
     */
    const eventsFrom = (
      subscription: PubSub.Subscription<Envelope>,
      first: number
    ): Stream.Stream<WatcherEvent, EventsLagged> => {
      let expected = first
      let ended = false
      let lagged: EventsLagged | undefined
      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<WatcherEvent>, EventsLagged> = Effect.suspend(() => {
        if (lagged !== undefined) return Effect.fail(lagged)
        if (ended) return Cause.done()
        return Effect.flatMap(
          PubSub.takeAll(subscription),
          (envelopes): Pull.Pull<Arr.NonEmptyReadonlyArray<WatcherEvent>, EventsLagged> => {
            const events: Array<WatcherEvent> = []
            for (const { event, sequence } of envelopes) {
              if (event === undefined) {
                ended = true
                break
              }
              if (sequence !== expected && onLag === "fail") {
                // Deliver what came before the gap; the next pull fails.
                lagged = new EventsLagged({ missed: sequence - expected, capacity })
                break
              }
              expected = sequence + 1
              events.push(event)
            }
            if (Arr.isArrayNonEmpty(events)) return Effect.succeed(events)
            return lagged !== undefined ? Effect.fail(lagged) : Cause.done()
          }
        )
      })
      return Stream.fromPull(Effect.succeed(pull))
    }

    const subscribe: Effect.Effect<Subscription, never, Scope.Scope> = publishing.withPermit(
      Effect.map(PubSub.subscribe(pubsub), (subscription) => ({
        portfolio: portfolio.value,
        events: eventsFrom(subscription, nextSequence)
      }))
    )

    const resolve = (event: ContainerEvent.Started): Effect.Effect<Container.Container | undefined, EngineError> =>
      engine.resolveStarted(event).pipe(
        Effect.catchIf(isGone, () => Effect.succeed(undefined))
      )

    /**
     * A start's look-up, confirmed against the engine's process check (any client of the engine
     * may publish a start, and a shim re-sends a start late, even after the exit): the container
     * takes the PID and pause state the engine reports, and a start of a process that is gone is
     * ignored. `evidenced`: the batch itself holds this instance's exit, so it did run; no check.
     */
    const resolveConfirmed = (
      event: ContainerEvent.Started,
      evidenced: boolean
    ): Effect.Effect<Container.Container | undefined, EngineError> =>
      trustEvents || evidenced || engine.resolveStartedIsCurrent === true
        ? resolve(event)
        : Effect.map(
          Effect.all([resolve(event), engine.checkProcess(event.id)], { concurrency: 2 }),
          ([container, check]) =>
            container === undefined || check._tag === "Unknown"
              ? container
              : check._tag === "Gone"
              ? undefined
              // Another instance is alive now (the start is late, or its PID forged): this start
              // adds nothing; the live instance's own start follows, or is known already. Taking
              // the live one here would put the portfolio ahead of the events still to come.
              : event.pid > 0 && check.pid !== event.pid
              ? undefined
              : check.pid === container.pid && check.paused === container.paused
              ? container
              : { ...container, pid: check.pid, paused: check.paused }
        )

    /**
     * Applies engine events in order. The look-ups of all `Started` events the portfolio does
     * not know, and one process check per container with an exit, pause or resume in the batch,
     * are made concurrently first (the checks see the engine at least as late as every event of
     * the batch); a start whose look-up turns out unneeded (or missing, after an earlier event of
     * the batch changed the picture) is settled in order.
     */
    const applyEvents = (
      start: Portfolio.Portfolio,
      batch: ReadonlyArray<ContainerEvent.ContainerEvent>
    ): Effect.Effect<{ portfolio: Portfolio.Portfolio; events: Array<WatcherEvent> }, EngineError> =>
      Effect.gen(function*() {
        const exitFollows = (event: ContainerEvent.Started, index: number) =>
          batch.some((later, at) => at > index && later._tag === "Exited" && later.id === event.id && later.pid === event.pid)
        const lookups: Array<[ContainerEvent.Started, boolean]> = []
        const startedInBatch = new Set<string>()
        const toCheck = new Set<string>()
        batch.forEach((event, index) => {
          if (event._tag === "Started") {
            startedInBatch.add(event.id)
            if (!Portfolio.isKnownInstance(start, event.id, event.pid)) lookups.push([event, exitFollows(event, index)])
          } else if (
            !trustEvents && event._tag !== "Updated" && (Portfolio.has(start, event.id) || startedInBatch.has(event.id))
          ) {
            toCheck.add(event.id)
          }
        })
        const resolved = new Map<ContainerEvent.Started, Container.Container | undefined>()
        const checks = new Map<string, ProcessCheck>()
        yield* Effect.all([
          Effect.forEach(lookups, ([event, evidenced]) =>
            Effect.map(resolveConfirmed(event, evidenced), (c) => resolved.set(event, c)), {
            concurrency: resolveConcurrency,
            discard: true
          }),
          Effect.forEach(toCheck, (id) => Effect.map(engine.checkProcess(id), (check) => checks.set(id, check)), {
            concurrency: resolveConcurrency,
            discard: true
          })
        ], { concurrency: 2, discard: true })
        let current = start
        const events: Array<WatcherEvent> = []
        for (const [index, event] of batch.entries()) {
          let applied: Portfolio.Applied
          if (event._tag === "Started") {
            if (Portfolio.isKnownInstance(current, event.id, event.pid)) continue
            const container = resolved.has(event)
              ? resolved.get(event)
              : yield* resolveConfirmed(event, exitFollows(event, index))
            if (container === undefined) continue
            applied = Portfolio.applyStarted(current, container)
          } else {
            applied = Portfolio.applyEvent(current, confirmed(current, event, checks.get(event.id)))
          }
          current = applied.portfolio
          for (const change of applied.changes) events.push({ ...change, timestamp: event.timestamp })
        }
        return { portfolio: current, events }
      })

    const streamEnded = new EngineUnavailable({
      address: engine.api,
      operation: "events",
      reason: "ConnectionLost",
      detail: "the event stream ended"
    })

    /**
     * Syncs from a live subscription, then follows it. `inbox` is the engine client's own queue:
     * what it holds when the list returns is exactly what arrived during the list (and before),
     * whatever the scheduler did meanwhile.
     */
    const syncAndFollow = (
      inbox: Queue.Dequeue<ContainerEvent.ContainerEvent, EngineError | Cause.Done>,
      firstSync: boolean,
      onSynced: Effect.Effect<void>
    ): Effect.Effect<void, EngineError> =>
      Effect.gen(function*() {
        const surveyed = yield* survey
        // A container the engine cannot tell about now is not taken for dead: it keeps its last
        // known state (a fresh watcher has none to keep), and a resync checks again soon.
        let fresh = Portfolio.fromContainers(surveyed.alive)
        for (const id of surveyed.undetermined) {
          const known = Portfolio.get(portfolio.value, id)
          if (known !== undefined && !Portfolio.has(fresh, id)) fresh = Portfolio.set(fresh, known)
        }
        const duringList = Portfolio.skipReflected(fresh, yield* Queue.clear(inbox))
        const synced = yield* applyEvents(fresh, duringList)
        // All or nothing: a sync that was published must also count as done (for the next diff).
        yield* Effect.uninterruptible(Effect.gen(function*() {
          const now = yield* DateTime.now
          const changes = firstSync ? [] : Portfolio.diff(portfolio.value, synced.portfolio)
          yield* publish(synced.portfolio, changes.map((change) => ({ ...change, timestamp: now })))
          yield* onSynced
          yield* SubscriptionRef.set(status, { _tag: "Live", since: now })
          yield* Deferred.succeed(ready, undefined)
        }))
        const follow = Stream.fromQueue(inbox).pipe(
          Stream.runForEachArray((batch) =>
            Effect.flatMap(applyEvents(portfolio.value, batch), (applied) => publish(applied.portfolio, applied.events))
          ),
          // The queue ends when the engine's event stream ended without an error.
          Effect.andThen(Effect.fail(streamEnded))
        )
        if (surveyed.undetermined.length === 0) return yield* follow
        // Ends the attempt after the re-check delay: the next attempt resyncs and announces the difference.
        yield* Effect.raceFirst(follow, Effect.sleep(recheckDelay))
      })

    /** One attempt, in its own scope: subscribe, sync, follow events until something fails. */
    const attempt = (
      number: number,
      firstSync: boolean,
      onSynced: Effect.Effect<void>
    ): Effect.Effect<void, EngineError> =>
      Effect.scoped(Effect.gen(function*() {
        yield* SubscriptionRef.set(status, { _tag: "Syncing", attempt: number })
        const subscription = yield* engine.openSubscription
        // A broken subscription ends the attempt at once, whatever it is doing (listing, looking up).
        return yield* Effect.raceFirst(syncAndFollow(subscription.events, firstSync, onSynced), subscription.broken)
      }))

    const stop = (cause: Cause.Cause<EngineError>) =>
      Effect.gen(function*() {
        yield* Effect.logError("effect-whalewatcher: the watcher stopped", cause)
        yield* SubscriptionRef.set(status, { _tag: "Stopped", cause })
        yield* Deferred.failCause(ready, cause)
        yield* PubSub.end(pubsub, endOfEvents)
      })

    const run = Effect.gen(function*() {
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
          return recovered ? Effect.logInfo(`effect-whalewatcher: live again on ${engine.api}`) : Effect.void
        })
        const exit = yield* Effect.exit(attempt(failedAttempts + 1, !everSynced, onSynced))
        if (synced) {
          // Reset after every successful sync: a long healthy period must not use up the schedule.
          step = yield* Schedule.toStep(schedule)
          failedAttempts = 0
        }
        if (Exit.isSuccess(exit)) continue
        const error = Cause.findErrorOption(exit.cause)
        if (Option.isNone(error)) return yield* stop(exit.cause)
        failedAttempts++
        const now = yield* Clock.currentTimeMillis
        const next = yield* Effect.exit(step(now, error.value))
        if (Exit.isFailure(next)) return yield* stop(Cause.fail(error.value))
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
        yield* SubscriptionRef.set(status, {
          _tag: "Retrying",
          error: error.value,
          attempt: failedAttempts + 1,
          delay,
          nextAttemptAt: DateTime.makeUnsafe(now + Duration.toMillis(delay))
        })
        yield* Fiber.join(wait)
      }
    })
    yield* Effect.forkScoped(run)

    return {
      portfolio,
      events: Stream.unwrap(Effect.map(subscribe, (subscription) => subscription.events)),
      subscribe,
      ready: Deferred.await(ready),
      status
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
