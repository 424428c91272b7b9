/**
 * How to test an app built on effect-whalewatcher without a container engine.
 *
 * `FakeEngine.watcherLayer(fake)` is a real Watcher over an in-memory engine. Provide it instead
 * of the production layer, then drive the fake: add, exit, pause or relabel containers, break
 * the connection, slow down or fail calls; and check how your app reacts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Stream, SubscriptionRef } from "effect"
import { TestClock } from "effect/testing"
import { EngineClient, Portfolio, Watcher } from "../../src/index.ts"
import { FakeEngine } from "../../src/testing/index.ts"

// -------------------------------------------------------------------------------------------
// The app under test: a crash reporter. It remembers every container that exited with a
// non-zero status, and tells how many containers each compose project runs.
// -------------------------------------------------------------------------------------------

interface CrashReporterShape {
  /** Names of crashed containers, oldest first. */
  readonly crashes: SubscriptionRef.SubscriptionRef<ReadonlyArray<string>>
  /** How many containers run in a project. */
  readonly running: (project: string) => Effect.Effect<number>
  /** False while the watcher cannot reach the engine. */
  readonly healthy: Effect.Effect<boolean>
}

interface CrashReporter {
  readonly _: unique symbol
}

const CrashReporter: Context.Service<CrashReporter, CrashReporterShape> = Context.Service<
  CrashReporter,
  CrashReporterShape
>("example/CrashReporter")

const CrashReporterLive: Layer.Layer<CrashReporter, never, Watcher.Watcher> = Layer.effect(
  CrashReporter,
  Effect.gen(function*() {
    const watcher = yield* Watcher.Watcher
    const crashes = yield* SubscriptionRef.make<ReadonlyArray<string>>([])
    // Subscribe now, not in the forked fiber: events published before it runs would be missed.
    const { events } = yield* watcher.subscribe
    yield* events.pipe(
      Stream.filter((event) => event._tag === "Exited" && (event.exitStatus ?? 0) !== 0),
      Stream.runForEach((event) => SubscriptionRef.update(crashes, (names) => [...names, event.container.name])),
      Effect.forkScoped
    )
    return {
      crashes,
      running: (project) =>
        Effect.map(watcher.portfolio.get, (p) => Portfolio.projectContainers(p, project).length),
      healthy: Effect.map(watcher.status.get, (status) => status._tag === "Live")
    }
  })
)

// -------------------------------------------------------------------------------------------
// Its tests
// -------------------------------------------------------------------------------------------

/** The app on a real Watcher over the fake engine. */
const testLayer = (fake: FakeEngine.FakeEngine) =>
  CrashReporterLive.pipe(Layer.provideMerge(FakeEngine.watcherLayer(fake)))

/** Waits until a value, given as the stream of its versions, satisfies a predicate. */
const waitFor = <A>(versions: Stream.Stream<A>, predicate: (a: A) => boolean) =>
  versions.pipe(Stream.filter(predicate), Stream.runHead, Effect.map(Option.getOrThrow))

describe("testing an app with FakeEngine", () => {
  it.effect("reports containers that crash, not those that exit cleanly", () => {
    // the engine's state before the app starts
    const fake = FakeEngine.make()
    fake.add({ id: "web", labels: { "nerdctl/name": "shop-web", "com.docker.compose.project": "shop" } })
    fake.add({ id: "worker", labels: { "nerdctl/name": "shop-worker", "com.docker.compose.project": "shop" } })
    fake.add({ id: "cron" })

    return Effect.gen(function*() {
      const reporter = yield* CrashReporter
      const watcher = yield* Watcher.Watcher
      yield* watcher.ready
      assert.strictEqual(yield* reporter.running("shop"), 2)

      // the engine's side of the story
      fake.exit("cron", { exitStatus: 0 })
      fake.exit("worker", { exitStatus: 137 })

      const crashes = yield* waitFor(SubscriptionRef.changes(reporter.crashes), (names) => names.length > 0)
      assert.deepStrictEqual(crashes, ["shop-worker"])
      assert.strictEqual(yield* reporter.running("shop"), 1)
    }).pipe(Effect.provide(testLayer(fake)))
  })

  it.effect("tells when the engine is out of reach, and recovers by itself", () => {
    const fake = FakeEngine.make()
    return Effect.gen(function*() {
      const reporter = yield* CrashReporter
      const watcher = yield* Watcher.Watcher
      yield* watcher.ready
      assert.isTrue(yield* reporter.healthy)

      // the connection breaks, and the next attempt fails too
      fake.failNext("subscribe")
      fake.disconnect()
      yield* waitFor(watcher.status.changes, (status) => status._tag === "Retrying")
      assert.isFalse(yield* reporter.healthy)

      // changes made meanwhile are caught up after the reconnect; it.effect runs on a TestClock,
      // so move it on past the backoff delays
      fake.add({ id: "late", labels: { "com.docker.compose.project": "shop" } })
      yield* TestClock.adjust("1 minute")
      yield* waitFor(watcher.status.changes, (status) => status._tag === "Live")
      assert.isTrue(yield* reporter.healthy)
      assert.strictEqual(yield* reporter.running("shop"), 1)
    }).pipe(Effect.provide(testLayer(fake)))
  })

  it.effect("code that uses the EngineClient directly gets the fake as EngineClient", () => {
    const fake = FakeEngine.make()
    fake.add({ id: "web" })
    fake.create({ id: "stopped" })
    return Effect.gen(function*() {
      const engine = yield* EngineClient.EngineClient
      assert.deepStrictEqual((yield* engine.list).map((c) => c.id), ["web"])
      const error = yield* Effect.flip(engine.inspect("stopped"))
      assert.strictEqual(error._tag, "ProcesslessContainer")
      assert.strictEqual(fake.calls.list, 1)
    }).pipe(Effect.provide(FakeEngine.layer(fake)))
  })
})
