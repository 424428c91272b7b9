/**
 * Running a program as the main program of a process, the same way on Node, Deno and Bun, on
 * effect's own `Runtime.makeRunMain`: SIGINT and SIGTERM interrupt the program (its scopes close,
 * so subscriptions and connections are released) and the process exits 0; a second signal exits
 * at once with 130. Logs go to stderr. A failure is logged as its message (no stack trace: typed errors here say
 * what went wrong and where) and exits 1. As with effect's own runners, an error that carries
 * `Runtime.errorExitCode` exits with that code, and one whose `Runtime.errorReported` is false is
 * not logged (the program reported it itself).
 *
 * @since 0.1.0
 */
import process from "node:process"
import { Cause, Effect, Exit, Logger, Runtime } from "effect"

/** Exit code after a second signal that did not wait for the program to finish. */
const ExitAtOnce = 130

/**
 * Runs `program` as the process's main program (see the module's notes on signals and exit codes).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Main } from "effect-whalewatcher"
 *
 * Main.runMain(Effect.log("hello"))
 * ```
 * @category running
 * @since 0.1.0
 */
export const runMain: <A, E>(program: Effect.Effect<A, E>) => void = (program) => {
  let signalled = false
  const run = Runtime.makeRunMain(({ fiber, teardown }) => {
    const stop = () => {
      if (signalled) process.exit(ExitAtOnce)
      signalled = true
      fiber.interruptUnsafe()
    }
    process.on("SIGINT", stop)
    process.on("SIGTERM", stop)
    fiber.addObserver((exit) => {
      process.off("SIGINT", stop)
      process.off("SIGTERM", stop)
      teardown(exit, (code) => {
        process.exitCode = code
      })
    })
  })
  const reported = Effect.tapCause(program, (cause) =>
    Cause.hasInterruptsOnly(cause) || !Runtime.getErrorReported(Cause.squash(cause))
      ? Effect.void
      : Effect.logError(Cause.prettyErrors(cause).map((error) => error.message).join("\n") || Cause.pretty(cause)))
  // Logs go to stderr, so that stdout carries only the program's own output (e.g. JSON lines).
  run(Effect.provideService(reported, Logger.LogToStderr, true), {
    disableErrorReporting: true,
    // Interrupted by a signal we were asked to honour: a normal end.
    teardown: (exit, onExit) =>
      Exit.isFailure(exit) && signalled && Cause.hasInterruptsOnly(exit.cause)
        ? onExit(0)
        : Runtime.defaultTeardown(exit, onExit)
  })
}
