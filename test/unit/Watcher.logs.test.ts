/**
 * What the Watcher says while it waits: one warning per kind of failure (not one per retry),
 * naming the socket; an info line once it is live again; an error when it gives up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Schedule, Stream } from "effect"
import { EngineError, Watcher } from "../../src/index.ts"
import { FakeEngine } from "../../src/testing/index.ts"

interface Logged {
  readonly level: string
  readonly text: string
}

/** A logger that keeps what it is given, and the layer that installs it alone. */
const capture = () => {
  const logged: Array<Logged> = []
  const logger = Logger.make((options) => {
    const parts = Array.isArray(options.message) ? options.message : [options.message]
    logged.push({ level: options.logLevel, text: parts.map(String).join(" ") })
  })
  return { logged, layer: Logger.layer([logger]) }
}

/** Waits until the Watcher has left `Live` and is live again. */
const untilLiveAgain = (watcher: Watcher.WatcherShape) =>
  watcher.status.changes.pipe(
    Stream.dropWhile((status) => status._tag === "Live"),
    Stream.filter((status) => status._tag === "Live"),
    Stream.runHead
  )

const atOnce = Schedule.spaced(0)

describe("Watcher logs", () => {
  it.effect("warns once per kind of failure, and says when it is live again", () => {
    const fake = FakeEngine.make({ address: "/run/test/containerd.sock" })
    const denied = new EngineError.EngineUnavailable({
      address: fake.address,
      operation: "list",
      reason: "PermissionDenied",
      detail: "EACCES"
    })
    fake.failNext("list", undefined, 5) // ConnectionLost, five times in a row
    fake.failNext("list", denied, 3)
    const { layer, logged } = capture()
    return Effect.gen(function*() {
      const watcher = yield* Watcher.Watcher
      yield* watcher.ready
      assert.strictEqual(fake.calls.list, 9)
      const loud = logged.filter((entry) => entry.level !== "Debug" && entry.level !== "Trace")
      assert.deepStrictEqual(loud.map((entry) => entry.level), ["Warn", "Warn", "Info"])
      assert.include(loud[0]!.text, "/run/test/containerd.sock")
      assert.include(loud[0]!.text, "failure injected by the test")
      assert.include(loud[1]!.text, "permission")
      assert.include(loud[2]!.text, "live again on /run/test/containerd.sock")

      // After it was live, the same kind of failure is news again.
      fake.failNext("list", undefined, 2)
      fake.disconnect()
      yield* untilLiveAgain(watcher)
      const later = logged.filter((entry) => entry.level !== "Debug" && entry.level !== "Trace").slice(3)
      assert.deepStrictEqual(later.map((entry) => entry.level), ["Warn", "Info"])
    }).pipe(Effect.provide(FakeEngine.watcherLayer(fake, { retry: atOnce }).pipe(Layer.provideMerge(layer))))
  })

  it.effect("is silent when nothing fails", () => {
    const fake = FakeEngine.make()
    const { layer, logged } = capture()
    return Effect.gen(function*() {
      const watcher = yield* Watcher.Watcher
      yield* watcher.ready
      assert.deepStrictEqual(logged.filter((entry) => entry.level !== "Debug"), [])
    }).pipe(Effect.provide(FakeEngine.watcherLayer(fake).pipe(Layer.provideMerge(layer))))
  })

  it.effect("logs an error with the cause when it gives up", () => {
    const fake = FakeEngine.make()
    fake.failNext(
      "subscribe",
      new EngineError.EngineUnavailable({ address: fake.address, operation: "subscribe", reason: "PermissionDenied", detail: "" })
    )
    const { layer, logged } = capture()
    return Effect.gen(function*() {
      const watcher = yield* Watcher.Watcher
      yield* Effect.flip(watcher.ready)
      assert.deepStrictEqual(logged.filter((entry) => entry.level !== "Debug").map((entry) => entry.level), ["Error"])
    }).pipe(Effect.provide(FakeEngine.watcherLayer(fake).pipe(Layer.provideMerge(layer))))
  })
})
