/**
 * A Watcher pointed at sockets that are not containerd's API keeps retrying, says why, and does
 * not grow its open file descriptors while it does (each failed attempt's connection is closed).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule, Stream } from "effect"
import { ContainerdEngine } from "../../src/containerd/index.ts"
import { Watcher } from "../../src/index.ts"
import { type Impostor, impostor, openFileDescriptors } from "./impostors.ts"

/** Waits until the Watcher is retrying with attempt number `attempt` or higher; returns its error. */
const untilAttempt = (watcher: Watcher.WatcherShape, attempt: number) =>
  watcher.status.changes.pipe(
    Stream.filter((status): status is Watcher.Retrying => status._tag === "Retrying" && status.attempt >= attempt),
    Stream.runHead,
    Effect.map((status) => status._tag === "Some" ? status.value.error : undefined)
  )

const cases: ReadonlyArray<readonly [Impostor, number]> = [
  // [impostor, attempts to compare across]: a silent server costs ~2.5 s an attempt
  ["accept-and-close", 40],
  ["random-bytes", 40],
  ["http1", 40],
  ["regular-file", 40],
  ["never-answer", 4]
]

// Deno's node:http2 throws an uncaught EPIPE when a server closes the connection at once (the call
// itself fails as it should); the test runner counts that as an error of this file, so that case
// runs on Node and Bun only (see the README's runtime notes).
const onDeno = "Deno" in globalThis

describe("a Watcher on a socket that is not containerd", () => {
  for (const [kind, attempts] of cases.filter(([kind]) => !(onDeno && kind === "accept-and-close"))) {
    it.live(`${kind}: retries with a clear reason, without growing its file descriptors`, () =>
      Effect.gen(function*() {
        const path = yield* impostor(kind)
        const watcherLayer = Watcher.layer({ retry: Schedule.spaced("10 millis") }).pipe(
          Layer.provide(ContainerdEngine.layerConfig({ address: path }))
        )
        yield* Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        const first = yield* untilAttempt(watcher, 3)
        assert.strictEqual(first?._tag, "EngineUnavailable")
        assert.strictEqual(
          first?._tag === "EngineUnavailable" ? first.reason : undefined,
          kind === "regular-file" ? "NotASocket" : "NotTheEngineApi",
          first?.message
        )
        const before = openFileDescriptors()
        yield* untilAttempt(watcher, 3 + attempts)
        const after = openFileDescriptors()
        // A connection still closing may be open at either moment; growth per attempt would show
        // as dozens.
        assert.isAtMost(after - before, 3, `${before} file descriptors before ${attempts} more attempts, ${after} after`)
        }).pipe(Effect.provide(watcherLayer))
      }).pipe(Effect.scoped), 60_000)
  }
})
