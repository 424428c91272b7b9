import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
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
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { TestClock } from "effect/testing"
import { ContainerEvent, EngineError, Portfolio, Watcher } from "../../src/index.ts"
import { FakeEngine } from "../../src/testing/index.ts"

const provideWatcher = (fake: FakeEngine.FakeEngine, options: Watcher.WatcherOptions = {}) =>
  Effect.provide(FakeEngine.watcherLayer(fake, options))

const summary = (events: ReadonlyArray<Watcher.WatcherEvent>) =>
  events.map((event) => `${event._tag} ${event.container.id}`)

const take = (events: Stream.Stream<Watcher.WatcherEvent, Watcher.EventsLagged>, n: number) =>
  events.pipe(Stream.take(n), Stream.runCollect)

const untilStatus = <Tag extends Watcher.Status["_tag"]>(watcher: Watcher.WatcherShape, tag: Tag) =>
  watcher.status.changes.pipe(
    Stream.filter((status): status is Extract<Watcher.Status, { _tag: Tag }> => status._tag === tag),
    Stream.runHead,
    Effect.map(Option.getOrThrow)
  )

/** Lets the watcher's fibers run until `condition` holds (no clock involved). */
const until = (condition: () => boolean) => untilEffect(Effect.sync(condition), condition.toString())

/** {@link until}, for a condition read by an effect (e.g. from a watcher's view). */
const untilEffect = (condition: Effect.Effect<boolean>, description: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !(yield* condition); i++) yield* Effect.yieldNow
    assert.isTrue(yield* condition, `condition not reached: ${description}`)
  })

const current = (watcher: Watcher.WatcherShape) => watcher.portfolio.get

/**
 * Waits for the watcher to be retrying, then moves the TestClock on by the retry's delay (no
 * further, so as not to wake other sleepers, e.g. delayed calls): the retry's timer is set before
 * the status says "Retrying".
 */
const retryNow = (watcher: Watcher.WatcherShape) =>
  Effect.flatMap(untilStatus(watcher, "Retrying"), ({ delay }) => TestClock.adjust(delay))

const assertMatchesEngine = (watcher: Watcher.WatcherShape, fake: FakeEngine.FakeEngine) =>
  Effect.map(current(watcher), (portfolio) => {
    assert.deepStrictEqual(Portfolio.containers(portfolio), Portfolio.containers(fake.portfolio()))
  })

const journalIndex = (fake: FakeEngine.FakeEngine, entry: FakeEngine.JournalEntry) =>
  fake.journal.findIndex((e) => e.operation === entry.operation && e.call === entry.call && e.phase === entry.phase)

describe("Watcher", () => {
  describe("first sync", () => {
    it.effect("lists once, becomes ready and live, and announces nothing for the initial list", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "web", labels: { "com.docker.compose.project": "shop" } })
      fake.add({ id: "db", labels: { "com.docker.compose.project": "shop" }, paused: true })
      fake.add({ id: "cron" })
      fake.delays.list = "1 second"
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        // subscribed before the sync: the initial list must not be announced as starts
        const { events } = yield* watcher.subscribe
        assert.strictEqual((yield* watcher.status.get)._tag, "Syncing")
        yield* TestClock.adjust("1 second")
        yield* watcher.ready
        yield* untilStatus(watcher, "Live")
        yield* assertMatchesEngine(watcher, fake)
        const portfolio = yield* current(watcher)
        assert.deepStrictEqual(Portfolio.projectNames(portfolio), ["", "shop"])
        assert.deepStrictEqual(Portfolio.totals(portfolio), { containers: 3, paused: 1, projects: 2 })
        fake.add({ id: "marker" })
        assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
        assert.strictEqual(fake.calls.list, 1)
        assert.strictEqual(fake.calls.subscribe, 1)
      }).pipe(Effect.scoped, provideWatcher(fake))
    })

    it.effect("offers the portfolio and the status as read-only views", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "web" })
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        // nothing to set: not the Watcher's own SubscriptionRefs
        assert.isFalse(SubscriptionRef.isSubscriptionRef(watcher.portfolio))
        assert.isFalse(SubscriptionRef.isSubscriptionRef(watcher.status))
        const [first] = yield* watcher.portfolio.changes.pipe(Stream.take(1), Stream.runCollect)
        assert.strictEqual(first, yield* watcher.portfolio.get)
        assert.deepStrictEqual(Portfolio.containers(first!).map((c) => c.id), ["web"])
        // the current version first, then the next one
        const running = yield* Deferred.make<void>()
        const next = yield* watcher.portfolio.changes.pipe(
          Stream.tap(() => Deferred.succeed(running, undefined)),
          Stream.take(2),
          Stream.runCollect,
          Effect.forkChild
        )
        yield* Deferred.await(running)
        fake.exit("web")
        const versions = yield* Fiber.join(next)
        assert.deepStrictEqual(versions.map(Portfolio.size), [1, 0])
        assert.strictEqual((yield* watcher.status.get)._tag, "Live")
      }).pipe(provideWatcher(fake))
    })

    it.effect("subscribes before it lists, so that nothing is lost in between", () => {
      const fake = FakeEngine.make()
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        const subscribed = journalIndex(fake, { operation: "subscribe", call: 1, phase: "success" })
        const listed = journalIndex(fake, { operation: "list", call: 1, phase: "start" })
        assert.isTrue(subscribed >= 0 && subscribed < listed)
      }).pipe(provideWatcher(fake))
    })

    it.effect("applies events that arrived during the list, after it, without announcing them", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a" })
      fake.add({ id: "b" })
      fake.add({ id: "x" })
      fake.onList({
        // in the list, and buffered as events too
        before: () => {
          fake.add({ id: "c" })
          fake.exit("a")
          fake.pause("b")
        },
        // not in the list: only the buffered events tell
        after: () => {
          fake.add({ id: "d" })
          fake.exit("b")
          fake.relabel("x", { "com.docker.compose.project": "shop" })
        }
      })
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        const { events } = yield* watcher.subscribe
        yield* watcher.ready
        yield* assertMatchesEngine(watcher, fake)
        assert.deepStrictEqual(Portfolio.containers(yield* current(watcher)).map((c) => c.id), ["c", "d", "x"])
        // c is in the list with the same PID: no look-up; d is not: one look-up
        assert.strictEqual(fake.calls.resolveStarted, 1)
        fake.add({ id: "marker" })
        assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
      }).pipe(Effect.scoped, provideWatcher(fake))
    })

    it.effect("does not apply an older instance's pause, buffered during the list, to the listed instance", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a" })
      fake.onList({
        before: () => {
          fake.pause("a")
          fake.exit("a")
          fake.start("a")
        }
      })
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        yield* assertMatchesEngine(watcher, fake)
        assert.isFalse(Portfolio.get(yield* current(watcher), "a")!.paused)
      }).pipe(provideWatcher(fake))
    })
  })

  describe("following events", () => {
    type Events = Stream.Stream<Watcher.WatcherEvent, Watcher.EventsLagged>
    const live = <A, E>(
      fake: FakeEngine.FakeEngine,
      body: (watcher: Watcher.WatcherShape, events: Events) => Effect.Effect<A, E, Scope.Scope>,
      options: Watcher.WatcherOptions = {}
    ) =>
      Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        const { events } = yield* watcher.subscribe
        return yield* body(watcher, events)
      }).pipe(Effect.scoped, provideWatcher(fake, options))

    // The rules for events as they come (trustEvents: no process checks), with stray events the
    // engine's state does not back; the checks are tested below.
    const trusting: Watcher.WatcherOptions = { trustEvents: true }

    /** An event the engine sends without a change of state (late, duplicate or stray). */
    const stray = (
      event:
        | { readonly _tag: "Started"; readonly id: string; readonly pid: number }
        | { readonly _tag: "Exited"; readonly id: string; readonly pid: number }
        | { readonly _tag: "Paused" | "Unpaused"; readonly id: string }
    ): ContainerEvent.ContainerEvent => ({ timestamp: DateTime.nowUnsafe(), namespace: "default", ...event })

    it.effect("announces starts with the whole container, resolved with one look-up", () => {
      const fake = FakeEngine.make()
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.add({ id: "web", labels: { "nerdctl/name": "shop-web", "com.docker.compose.project": "shop" } })
          const [started] = yield* take(events, 1)
          assert.strictEqual(started?._tag, "Started")
          assert.deepStrictEqual(started?.container, fake.containers()[0])
          assert.strictEqual(started?.container.project, "shop")
          assert.strictEqual(fake.calls.resolveStarted, 1)
          assert.strictEqual(Portfolio.getByName(yield* current(watcher), "shop-web")?.id, "web")
        }))
    })

    it.effect("ends an instance on its exit, and ignores an exit that names another PID", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a", pid: 42 })
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.emit(stray({ _tag: "Exited", id: "a", pid: 41 }))
          fake.add({ id: "marker" })
          assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
          assert.isTrue(Portfolio.has(yield* current(watcher), "a"))
          fake.exit("a", { exitStatus: 3 })
          const [exited] = yield* take(events, 1)
          assert.deepStrictEqual(exited?._tag === "Exited" ? [exited.container.pid, exited.exitStatus] : [], [42, 3])
          assert.isFalse(Portfolio.has(yield* current(watcher), "a"))
        }))
    })

    it.effect("follows a container that starts again with the same ID as a new instance", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a", pid: 10 })
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.exit("a")
          fake.start("a", { pid: 11 })
          const got = yield* take(events, 2)
          assert.deepStrictEqual(summary(got), ["Exited a", "Started a"])
          assert.deepStrictEqual(got.map((e) => e.container.pid), [10, 11])
          assert.strictEqual(Portfolio.get(yield* current(watcher), "a")?.pid, 11)
          // a start with a new PID whose exit was never seen ends the old instance first
          fake.emit(stray({ _tag: "Started", id: "a", pid: 12 }))
          const again = yield* take(events, 2)
          assert.deepStrictEqual(summary(again), ["Exited a", "Started a"])
          assert.deepStrictEqual(again.map((e) => e.container.pid), [11, 12])
          // a repeated start of the known instance changes nothing and costs no look-up
          const lookups = fake.calls.resolveStarted
          fake.emit(stray({ _tag: "Started", id: "a", pid: 12 }))
          fake.add({ id: "marker" })
          assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
          assert.strictEqual(fake.calls.resolveStarted, lookups + 1)
        }), trusting)
    })

    it.effect("checks exits, pauses and starts against the engine: forged ones change nothing", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a", pid: 10 })
      fake.create({ id: "never" })
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          const now = DateTime.nowUnsafe()
          // any client of the socket may publish these; the engine's process check says otherwise
          fake.emit({ _tag: "Exited", id: "a", namespace: "default", timestamp: now, pid: 10, exitStatus: 137 })
          fake.emit({ _tag: "Paused", id: "a", namespace: "default", timestamp: now })
          fake.emit({ _tag: "Started", id: "a", namespace: "default", timestamp: now, pid: 4242 })
          fake.emit({ _tag: "Started", id: "never", namespace: "default", timestamp: now, pid: 77 })
          fake.add({ id: "marker" })
          assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
          const portfolio = yield* current(watcher)
          assert.deepStrictEqual([Portfolio.get(portfolio, "a")?.pid, Portfolio.get(portfolio, "a")?.paused], [10, false])
          assert.isUndefined(Portfolio.get(portfolio, "never"))
          assert.isAtLeast(fake.calls.checkProcess, 2)
        }))
    })

    it.effect("a late copy of a start, after its instance exited, does not bring it back", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a", pid: 10 })
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.exit("a")
          assert.deepStrictEqual(summary(yield* take(events, 1)), ["Exited a"])
          fake.emit(stray({ _tag: "Started", id: "a", pid: 10 }))
          fake.add({ id: "marker" })
          assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
          assert.isUndefined(Portfolio.get(yield* current(watcher), "a"))
        }))
    })

    it.effect("announces pauses and resumes only when they change something", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a" })
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.emit(stray({ _tag: "Unpaused", id: "a" }))
          fake.pause("a")
          fake.emit(stray({ _tag: "Paused", id: "a" }))
          fake.emit(stray({ _tag: "Paused", id: "unknown" }))
          fake.resume("a")
          fake.add({ id: "marker" })
          const got = yield* take(events, 3)
          assert.deepStrictEqual(summary(got), ["Paused a", "Unpaused a", "Started marker"])
          assert.deepStrictEqual(got.map((e) => e.container.paused), [true, false, false])
          assert.strictEqual(Portfolio.totals(yield* current(watcher)).paused, 0)
        }), trusting)
    })

    it.effect("updates name, project and labels in place, announcing only real changes", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a", labels: { tier: "web" } })
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.relabel("a", { tier: "web" })
          fake.relabel("a", { tier: "web", "nerdctl/name": "front", "com.docker.compose.project": "shop" })
          fake.add({ id: "marker" })
          const [updated, marker] = yield* take(events, 2)
          assert.strictEqual(marker?.container.id, "marker")
          assert.strictEqual(updated?._tag, "Updated")
          if (updated?._tag !== "Updated") return
          assert.deepStrictEqual([updated.previous.name, updated.previous.project], ["a", ""])
          assert.deepStrictEqual([updated.container.name, updated.container.project], ["front", "shop"])
          const portfolio = yield* current(watcher)
          assert.strictEqual(Portfolio.getByName(portfolio, "front")?.pid, fake.containers()[0]!.pid)
          assert.deepStrictEqual(Portfolio.projectNames(portfolio), ["", "shop"])
        }))
    })

    it.effect("ignores a start whose container is already gone", () => {
      const fake = FakeEngine.make()
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.failNext("resolveStarted", new EngineError.ContainerNotFound({ address: fake.address, nameOrId: "a" }))
          fake.add({ id: "a" })
          fake.failNext("resolveStarted", new EngineError.ProcesslessContainer({ address: fake.address, id: "b" }))
          fake.add({ id: "b" })
          fake.add({ id: "marker" })
          assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
          assert.deepStrictEqual(Portfolio.containers(yield* current(watcher)).map((c) => c.id), ["marker"])
          // no reconnect for that
          assert.strictEqual(fake.calls.subscribe, 1)
          assert.strictEqual((yield* watcher.status.get)._tag, "Live")
        }))
    })

    it.effect("resyncs when a look-up fails for another reason", () => {
      const fake = FakeEngine.make()
      return live(fake, (watcher, events) =>
        Effect.gen(function*() {
          fake.failNext("resolveStarted")
          fake.add({ id: "a" })
          yield* retryNow(watcher)
          assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started a"])
          yield* assertMatchesEngine(watcher, fake)
          assert.strictEqual(fake.calls.subscribe, 2)
        }))
    })
  })

  describe("reconnecting", () => {
    it.effect("keeps the old portfolio until the new list is in, then announces only the differences", () => {
      const fake = FakeEngine.make()
      for (const id of ["a", "b", "c", "e", "same"]) fake.add({ id })
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        const { events } = yield* watcher.subscribe
        const before = yield* current(watcher)
        fake.disconnect()
        // while disconnected
        fake.exit("a")
        fake.add({ id: "d" })
        fake.pause("b")
        fake.relabel("c", { "com.docker.compose.project": "shop" })
        fake.exit("e")
        fake.start("e")
        const retrying = yield* untilStatus(watcher, "Retrying")
        assert.strictEqual(retrying.error._tag, "EngineUnavailable")
        assert.strictEqual(retrying.attempt, 2)
        fake.delays.list = "5 seconds"
        yield* retryNow(watcher)
        yield* until(() => fake.inFlight("list") === 1)
        // make-before-break: the old portfolio stays visible while the new list is taken
        assert.strictEqual(yield* current(watcher), before)
        yield* TestClock.adjust("5 seconds")
        const got = yield* take(events, 6)
        assert.deepStrictEqual(summary(got), [
          "Exited a",
          "Paused b",
          "Updated c",
          "Started d",
          "Exited e",
          "Started e"
        ])
        yield* assertMatchesEngine(watcher, fake)
        yield* untilStatus(watcher, "Live")
        fake.add({ id: "marker" })
        assert.deepStrictEqual(summary(yield* take(events, 1)), ["Started marker"])
      }).pipe(Effect.scoped, provideWatcher(fake))
    })

    it.effect("announces the changes buffered during a resync's list through the diff", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a" })
      fake.add({ id: "b" })
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        const { events, portfolio } = yield* watcher.subscribe
        fake.onList({
          before: () => {
            fake.pause("a")
            fake.resume("a")
            fake.add({ id: "c" })
          },
          after: () => fake.exit("b")
        })
        fake.disconnect()
        yield* retryNow(watcher)
        const got = yield* take(events, 2)
        // the pause and resume cancel out; c started, b exited
        assert.deepStrictEqual(summary(got), ["Exited b", "Started c"])
        assert.isTrue(Portfolio.equals(got.reduce(Portfolio.applyChange, portfolio), yield* current(watcher)))
        yield* assertMatchesEngine(watcher, fake)
      }).pipe(Effect.scoped, provideWatcher(fake))
    })

    it.effect("reports the last error, the next attempt and its time while retrying", () => {
      const fake = FakeEngine.make()
      fake.failNext("list")
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        const status = yield* untilStatus(watcher, "Retrying")
        assert.strictEqual(status.attempt, 2)
        assert.strictEqual(status.error._tag === "EngineUnavailable" && status.error.reason, "ConnectionLost")
        const now = yield* DateTime.now
        const inMillis = DateTime.toEpochMillis(status.nextAttemptAt) - DateTime.toEpochMillis(now)
        assert.closeTo(inMillis, Duration.toMillis(status.delay), 1)
        // the default schedule: 250 ms, jittered by up to 20%
        assert.isTrue(inMillis >= 200 && inMillis <= 300, String(inMillis))
        yield* retryNow(watcher)
        yield* watcher.ready
        assert.strictEqual(fake.calls.list, 2)
      }).pipe(provideWatcher(fake))
    })

    it.effect("restarts the backoff after every successful sync, however long the healthy period", () => {
      const fake = FakeEngine.make()
      // at most two retries in a row
      const retry = Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 2 }))
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        const recover = Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            yield* untilEffect(Effect.map(watcher.status.get, (status) => status._tag !== "Syncing"), "not syncing")
            yield* TestClock.adjust("1 second")
          }
          const status = yield* watcher.status.get
          assert.strictEqual(status._tag, "Live", JSON.stringify(status))
        })
        // two failed attempts in a row use up the schedule...
        fake.failNext("list", undefined, 2)
        yield* recover
        for (let round = 0; round < 3; round++) {
          // ...but after each successful sync and a long healthy period it is available again
          yield* TestClock.adjust("1 hour")
          fake.failNext("list", undefined, 1)
          fake.disconnect()
          yield* recover
        }
        assert.strictEqual(fake.calls.subscribe, 3 + 3 * 2)
      }).pipe(provideWatcher(fake, { retry }))
    })

    it.effect("stops when its schedule gives up: ready fails, streams end, the status says why", () => {
      const fake = FakeEngine.make()
      const denied = new EngineError.EngineUnavailable({
        address: fake.address,
        operation: "subscribe",
        reason: "PermissionDenied",
        detail: "test"
      })
      fake.failNext("subscribe", denied)
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        const error = yield* Effect.flip(watcher.ready)
        assert.strictEqual(error, denied)
        const status = yield* watcher.status.get
        assert.strictEqual(status._tag, "Stopped")
        assert.deepStrictEqual(yield* Stream.runCollect(watcher.events), [])
        assert.strictEqual(fake.calls.subscribe, 1)
      }).pipe(provideWatcher(fake))
    })

    it.effect("interrupts a failed attempt's list before the next attempt starts", () => {
      const fake = FakeEngine.make()
      fake.delays.list = "1 hour"
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* until(() => fake.inFlight("list") === 1)
        fake.disconnect() // the subscription breaks while the list is in flight
        yield* untilStatus(watcher, "Retrying")
        assert.strictEqual(fake.inFlight("list"), 0)
        delete fake.delays.list
        yield* retryNow(watcher)
        yield* watcher.ready
        const interrupted = journalIndex(fake, { operation: "list", call: 1, phase: "interrupt" })
        const next = journalIndex(fake, { operation: "subscribe", call: 2, phase: "start" })
        assert.isTrue(interrupted >= 0 && interrupted < next, JSON.stringify(fake.journal))
      }).pipe(provideWatcher(fake))
    })

    it.effect("interrupts a failed attempt's look-ups before the next attempt starts", () => {
      const fake = FakeEngine.make()
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        fake.delays.resolveStarted = "1 hour"
        fake.add({ id: "a" })
        yield* until(() => fake.inFlight("resolveStarted") === 1)
        fake.disconnect()
        yield* untilStatus(watcher, "Retrying")
        assert.strictEqual(fake.inFlight("resolveStarted"), 0)
        delete fake.delays.resolveStarted
        yield* retryNow(watcher)
        yield* untilStatus(watcher, "Live")
        const interrupted = journalIndex(fake, { operation: "resolveStarted", call: 1, phase: "interrupt" })
        const next = journalIndex(fake, { operation: "subscribe", call: 2, phase: "start" })
        assert.isTrue(interrupted >= 0 && interrupted < next, JSON.stringify(fake.journal))
        yield* assertMatchesEngine(watcher, fake)
      }).pipe(provideWatcher(fake))
    })
  })

  describe("subscribers", () => {
    it.live("a subscriber that does not keep up delays neither the watcher nor other subscribers", () => {
      const fake = FakeEngine.make()
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        const stalled = yield* watcher.subscribe // never read until the end
        const slowGate = yield* Deferred.make<void>()
        const slow = yield* watcher.subscribe
        // a consumer stuck on its first event
        let slowGot = 0
        const slowConsumer = yield* slow.events.pipe(
          Stream.runForEach(() => Effect.andThen(Effect.sync(() => slowGot++), Deferred.await(slowGate))),
          Effect.flip,
          Effect.forkScoped
        )
        const fast = yield* watcher.subscribe
        const fastConsumer = yield* take(fast.events, 100).pipe(Effect.forkScoped)
        for (let i = 0; i < 100; i++) fake.add({ id: `c${String(i).padStart(3, "0")}` })
        const got = yield* Fiber.join(fastConsumer)
        assert.deepStrictEqual(got.map((e) => e.container.id), fake.containers().map((c) => c.id))
        assert.strictEqual(Portfolio.size(yield* current(watcher)), 100)
        // the stalled one fell behind by more than the capacity: it learns that it missed events
        const lag = yield* Effect.flip(Stream.runCollect(stalled.events))
        assert.strictEqual(lag._tag, "EventsLagged")
        assert.deepStrictEqual([lag.missed, lag.capacity], [92, 8])
        // once unstuck, the slow one gets the rest of the batch it had taken, then learns the same:
        // what it got, what it missed and the last `capacity` events add up to all of them
        yield* Deferred.succeed(slowGate, undefined)
        const slowLag = yield* Fiber.join(slowConsumer)
        assert.isAtLeast(slowGot, 1)
        assert.deepStrictEqual([slowGot + slowLag.missed + 8, slowLag.capacity], [100, 8])
      }).pipe(Effect.scoped, provideWatcher(fake, { eventCapacity: 8 }))
    })

    it.live("with onLag: slide, a subscriber that falls behind misses the oldest events", () => {
      const fake = FakeEngine.make()
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        const stalled = yield* watcher.subscribe
        const fast = yield* watcher.subscribe
        const fastConsumer = yield* take(fast.events, 20).pipe(Effect.forkScoped)
        for (let i = 0; i < 20; i++) fake.add({ id: `c${String(i).padStart(2, "0")}` })
        assert.strictEqual((yield* Fiber.join(fastConsumer)).length, 20)
        const got = yield* take(stalled.events, 4)
        assert.deepStrictEqual(summary(got), ["Started c16", "Started c17", "Started c18", "Started c19"])
      }).pipe(Effect.scoped, provideWatcher(fake, { eventCapacity: 4, onLag: "slide" }))
    })

    it.effect("gives each run of `events` its own subscription from the moment it starts", () => {
      const fake = FakeEngine.make()
      return Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* watcher.ready
        fake.add({ id: "before" })
        yield* untilEffect(Effect.map(watcher.portfolio.get, (portfolio) => Portfolio.has(portfolio, "before")), "has before")
        const first = yield* take(watcher.events, 1).pipe(Effect.forkScoped)
        const second = yield* take(watcher.events, 1).pipe(Effect.forkScoped)
        // let both streams start (and subscribe)
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow
        fake.add({ id: "after" })
        assert.deepStrictEqual(summary(yield* Fiber.join(first)), ["Started after"])
        assert.deepStrictEqual(summary(yield* Fiber.join(second)), ["Started after"])
      }).pipe(Effect.scoped, provideWatcher(fake))
    })
  })

  describe("resources", () => {
    it.effect("closing the layer's scope ends the subscription, the calls in flight and the streams", () => {
      const fake = FakeEngine.make()
      fake.add({ id: "a" })
      return Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(FakeEngine.watcherLayer(fake), scope)
        const watcher = Context.get(context, Watcher.Watcher)
        yield* watcher.ready
        const consumer = yield* watcher.events.pipe(Stream.runCollect, Effect.forkDetach)
        fake.delays.resolveStarted = "1 hour"
        fake.add({ id: "b" })
        yield* until(() => fake.inFlight("resolveStarted") === 1)
        assert.strictEqual(fake.openSubscriptions, 1)
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(fake.openSubscriptions, 0)
        assert.strictEqual(fake.liveSubscriptions, 0)
        assert.deepStrictEqual(
          [fake.inFlight("list"), fake.inFlight("subscribe"), fake.inFlight("resolveStarted")],
          [0, 0, 0]
        )
        // the stream ends as the pubsub it reads is shut down with the scope: its run is interrupted
        const exit = yield* Fiber.await(consumer)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause), String(exit))
        // nothing keeps running: no retry ever subscribes again
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(fake.calls.subscribe, 1)
      })
    })
  })
})
