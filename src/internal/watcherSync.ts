/**
 * One attempt of the Watcher: subscribe, take a list, apply what arrived meanwhile, publish the
 * portfolio (make-before-break), then follow the events until something fails. The retry loop
 * around it lives in `Watcher.make`.
 */
import { type Cause, DateTime, type Duration, Effect, Queue, Stream } from "effect"
import type * as Container from "../Container.ts"
import type * as ContainerEvent from "../ContainerEvent.ts"
import type { EngineClientShape, ProcessCheck, Survey } from "../EngineClient.ts"
import { type EngineError, EngineUnavailable } from "../EngineError.ts"
import * as Portfolio from "../Portfolio.ts"
import type { WatcherEvent } from "../Watcher.ts"
import type { EventHub } from "./eventHub.ts"

/** The Watcher's options an attempt follows (see `WatcherOptions`). */
export interface SyncOptions {
  readonly resolveConcurrency: number
  readonly trustEvents: boolean
  readonly recheckDelay: Duration.Input
}

/** Runs attempts against one engine, publishing to one hub. */
export interface Sync {
  /**
   * One attempt, in its own scope: a failed attempt's subscription, list and look-ups are
   * interrupted when it ends. `onSynced` runs, uninterruptibly with the publication, once the
   * attempt's sync is published; the first sync announces no changes.
   */
  readonly attempt: (
    firstSync: boolean,
    onSynced: (now: DateTime.Utc) => Effect.Effect<void>
  ) => Effect.Effect<void, EngineError>
}

/** Whether a failed look-up means the container is already gone (then its start is ignored). */
const isGone = (error: EngineError): boolean =>
  error._tag === "ContainerNotFound" || error._tag === "ProcesslessContainer"

/** What the steps of an attempt work with. */
interface Attempts {
  readonly engine: EngineClientShape
  readonly hub: EventHub
  readonly options: SyncOptions
  readonly survey: Effect.Effect<Survey, EngineError>
  readonly streamEnded: EngineUnavailable
}

/** The attempts of a Watcher. */
export const make = (engine: EngineClientShape, hub: EventHub, options: SyncOptions): Sync => {
  const attempts: Attempts = {
    engine,
    hub,
    options,
    survey: engine.survey ?? Effect.map(engine.list, (alive) => ({ alive, undetermined: [] })),
    streamEnded: new EngineUnavailable({
      address: engine.api,
      operation: "events",
      reason: "ConnectionLost",
      detail: "the event stream ended"
    })
  }
  return {
    attempt: (firstSync, onSynced) =>
      Effect.scoped(Effect.gen(function*() {
        const subscription = yield* engine.openSubscription
        // A broken subscription ends the attempt at once, whatever it is doing (listing, looking up).
        return yield* Effect.raceFirst(
          syncAndFollow(attempts, subscription.events, firstSync, onSynced),
          subscription.broken
        )
      }))
  }
}

const resolve = (
  engine: EngineClientShape,
  event: ContainerEvent.Started
): Effect.Effect<Container.Container | undefined, EngineError> =>
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
  { engine, options }: Attempts,
  event: ContainerEvent.Started,
  evidenced: boolean
): Effect.Effect<Container.Container | undefined, EngineError> =>
  options.trustEvents || evidenced || engine.resolveStartedIsCurrent === true
    ? resolve(engine, event)
    : Effect.map(
      Effect.all([resolve(engine, event), engine.checkProcess(event.id)], { concurrency: 2 }),
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
 * Applies engine events in order (see {@link Portfolio.applyEvents}). The look-ups of all
 * `Started` events the portfolio does not know, and one process check per container with an
 * exit, pause or resume in the batch, are made concurrently first (the checks see the engine
 * at least as late as every event of the batch); a start whose look-up turns out needed only
 * after an earlier event of the batch changed the picture is looked up when the fold gets there.
 */
const applyEvents = (
  attempts: Attempts,
  start: Portfolio.Portfolio,
  batch: ReadonlyArray<ContainerEvent.ContainerEvent>
): Effect.Effect<{ portfolio: Portfolio.Portfolio; events: ReadonlyArray<WatcherEvent> }, EngineError> =>
  Effect.gen(function*() {
    const { engine, options: { resolveConcurrency, trustEvents } } = attempts
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
    const started = new Map<ContainerEvent.Started, Container.Container | undefined>()
    const checks = new Map<string, ProcessCheck>()
    yield* Effect.all([
      Effect.forEach(lookups, ([event, evidenced]) =>
        Effect.map(resolveConfirmed(attempts, event, evidenced), (c) => started.set(event, c)), {
        concurrency: resolveConcurrency,
        discard: true
      }),
      Effect.forEach(toCheck, (id) => Effect.map(engine.checkProcess(id), (check) => checks.set(id, check)), {
        concurrency: resolveConcurrency,
        discard: true
      })
    ], { concurrency: 2, discard: true })
    const evidence: Portfolio.Evidence = { started, checks }
    let applied = Portfolio.applyEvents(start, batch, evidence)
    let events = applied.changes
    while (applied.stoppedAt !== undefined) {
      const index = applied.stoppedAt
      const event = batch[index] as ContainerEvent.Started
      started.set(event, yield* resolveConfirmed(attempts, event, exitFollows(event, index)))
      applied = Portfolio.applyEvents(applied.portfolio, batch, evidence, index)
      events = events.concat(applied.changes)
    }
    return { portfolio: applied.portfolio, events }
  })

/**
 * Syncs from a live subscription, then follows it. `inbox` is the engine client's own queue:
 * what it holds when the list returns is exactly what arrived during the list (and before),
 * whatever the scheduler did meanwhile.
 */
const syncAndFollow = (
  attempts: Attempts,
  inbox: Queue.Dequeue<ContainerEvent.ContainerEvent, EngineError | Cause.Done>,
  firstSync: boolean,
  onSynced: (now: DateTime.Utc) => Effect.Effect<void>
): Effect.Effect<void, EngineError> =>
  Effect.gen(function*() {
    const { hub } = attempts
    const surveyed = yield* attempts.survey
    // A container the engine cannot tell about now is not taken for dead: it keeps its last
    // known state (a fresh watcher has none to keep), and a resync checks again soon.
    let fresh = Portfolio.fromContainers(surveyed.alive)
    for (const id of surveyed.undetermined) {
      const known = Portfolio.get(hub.portfolio.value, id)
      if (known !== undefined && !Portfolio.has(fresh, id)) fresh = Portfolio.set(fresh, known)
    }
    const duringList = Portfolio.skipReflected(fresh, yield* Queue.clear(inbox))
    const synced = yield* applyEvents(attempts, fresh, duringList)
    // All or nothing: a sync that was published must also count as done (for the next diff).
    yield* Effect.uninterruptible(Effect.gen(function*() {
      const now = yield* DateTime.now
      const changes = firstSync ? [] : Portfolio.diff(hub.portfolio.value, synced.portfolio)
      yield* hub.publish(synced.portfolio, changes.map((change) => ({ ...change, timestamp: now })))
      yield* onSynced(now)
    }))
    const follow = Stream.fromQueue(inbox).pipe(
      Stream.runForEachArray((batch) =>
        Effect.flatMap(
          applyEvents(attempts, hub.portfolio.value, batch),
          (applied) => hub.publish(applied.portfolio, applied.events)
        )
      ),
      // The queue ends when the engine's event stream ended without an error.
      Effect.andThen(Effect.fail(attempts.streamEnded))
    )
    if (surveyed.undetermined.length === 0) return yield* follow
    // Ends the attempt after the re-check delay: the next attempt resyncs and announces the difference.
    yield* Effect.raceFirst(follow, Effect.sleep(attempts.options.recheckDelay))
  })
