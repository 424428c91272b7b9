/**
 * Waiting for real processes, with real timers.
 * @internal
 */
import { Effect } from "effect"

export const pollIntervalMillis = 50

// Real timers on purpose: the sandbox waits for real processes, also inside tests that run with a
// TestClock, where Effect.sleep would only advance when the test adjusts the clock.
export const sleepMillis = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/** Polls `condition` until it holds (true) or `timeoutMillis` passed (false). */
export const waitUntil = <E, R>(
  condition: Effect.Effect<boolean, E, R>,
  timeoutMillis: number
): Effect.Effect<boolean, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      if (yield* condition) return true
      if (Date.now() >= deadline) return false
      yield* sleepMillis(pollIntervalMillis)
    }
  })

