/**
 * How tests wait: for a condition, against a deadline of real time (so also under a TestClock),
 * never by sleeping and then asserting.
 */
import { Effect } from "effect"
import { waitUntil } from "../src/testing/internal/waiting.ts"

/**
 * Waits until `condition` holds, polling; dies with `what` (the condition, in words, or a function
 * that describes the state reached) once `timeoutMillis` passed first.
 */
export const eventually = <E = never, R = never>(
  condition: Effect.Effect<boolean, E, R> | (() => boolean),
  what: string | (() => string),
  timeoutMillis = 10_000
): Effect.Effect<void, E, R> =>
  Effect.flatMap(
    waitUntil(Effect.isEffect(condition) ? condition : Effect.sync(condition), timeoutMillis),
    (held) =>
      held
        ? Effect.void
        : Effect.die(new Error(`not within ${timeoutMillis} ms: ${typeof what === "string" ? what : what()}`))
  )
