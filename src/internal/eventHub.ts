/**
 * The Watcher's event hub: the current portfolio and the events that lead to it, published
 * together. Events fan out through a sliding PubSub, so that publishing never waits for a
 * subscriber; each event carries a sequence number, so that a subscriber that fell behind notices
 * what it missed.
 */
import { Array as Arr, Cause, Effect, PubSub, type Pull, type Scope, Semaphore, Stream, SubscriptionRef } from "effect"
import * as Portfolio from "../Portfolio.ts"
import type { EventsLagged, LagStrategy, Subscription, WatcherEvent } from "../Watcher.ts"

/** One published event and its position; `event` undefined marks the end of all events. */
interface Envelope {
  readonly sequence: number
  readonly event: WatcherEvent | undefined
}

const endOfEvents: Envelope = { sequence: -1, event: undefined }

/** The hub's options. */
export interface EventHubOptions {
  /** How many events a subscriber may fall behind. */
  readonly capacity: number
  /** What a subscriber that falls further behind gets. */
  readonly onLag: LagStrategy
  /** The failure of a subscriber that missed `missed` events (with `onLag: "fail"`). */
  readonly lagged: (missed: number) => EventsLagged
}

/** The hub: the portfolio, publishing, subscribing, and the end of all events. */
export interface EventHub {
  /** The current portfolio; set only by {@link publish}. */
  readonly portfolio: SubscriptionRef.SubscriptionRef<Portfolio.Portfolio>
  /** Sets the portfolio and publishes the events that led to it, as one step for subscribers. */
  readonly publish: (next: Portfolio.Portfolio, events: ReadonlyArray<WatcherEvent>) => Effect.Effect<void>
  /** The current portfolio and the events after it, without a gap or an overlap. */
  readonly subscribe: Effect.Effect<Subscription, never, Scope.Scope>
  /** Ends every subscriber's events, after those already published. */
  readonly end: Effect.Effect<void>
}

/** A hub whose PubSub shuts down with the current scope. */
export const make = (options: EventHubOptions): Effect.Effect<EventHub, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { capacity, onLag, lagged } = options
    const portfolio = yield* SubscriptionRef.make(Portfolio.empty)
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

    const subscribe: Effect.Effect<Subscription, never, Scope.Scope> = publishing.withPermit(
      Effect.map(PubSub.subscribe(pubsub), (subscription) => ({
        portfolio: portfolio.value,
        events: eventsFrom(subscription, nextSequence, onLag, lagged)
      }))
    )

    return { portfolio, publish, subscribe, end: PubSub.end(pubsub, endOfEvents) }
  })

/**
 * The events of one PubSub subscription, taken in batches (all that are waiting): a run that
 * stops early drops the rest of its batch, which is why a subscription is run once. A gap in
 * the sequence numbers means the subscriber fell behind: with `onLag: "fail"`, what came before
 * the gap is delivered, then the stream fails.
 */
const eventsFrom = (
  subscription: PubSub.Subscription<Envelope>,
  first: number,
  onLag: LagStrategy,
  lagged: (missed: number) => EventsLagged
): Stream.Stream<WatcherEvent, EventsLagged> => {
  let expected = first
  let ended = false
  let failure: EventsLagged | undefined
  const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<WatcherEvent>, EventsLagged> = Effect.suspend(() => {
    if (failure !== undefined) return Effect.fail(failure)
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
            failure = lagged(sequence - expected)
            break
          }
          expected = sequence + 1
          events.push(event)
        }
        if (Arr.isArrayNonEmpty(events)) return Effect.succeed(events)
        return failure !== undefined ? Effect.fail(failure) : Cause.done()
      }
    )
  })
  return Stream.fromPull(Effect.succeed(pull))
}
