#!/usr/bin/env node
/**
 * The entry point of the `whalewatcher` command, for Node (`node --import tsx src/cli/main.ts`,
 * or the `whalewatcher` bin), Deno (`deno run -A src/cli/main.ts`) and Bun (`bun src/cli/main.ts`).
 *
 * It runs the command line on containerd with the library's main runner (`Main.runMain`) and exits
 * with the command's exit code. SIGINT and SIGTERM interrupt the command, which closes its
 * subscriptions and connections and exits 0; a second signal exits at once. A reader that goes
 * away (`whalewatcher events | head -1`) ends the command quietly.
 *
 * @since 0.1.0
 */
import process from "node:process"
import { Effect, Layer, Runtime } from "effect"
import { runMain } from "../Main.ts"
import { run } from "./Cli.ts"
import * as Connector from "./Connector.ts"
import { ExitCode } from "./ExitCode.ts"
import * as Platform from "./Platform.ts"

/** Ends the process with `code` and says nothing more: the command has reported what happened. */
const exitWith = (code: number): Error =>
  Object.assign(new Error(`exit code ${code}`), { [Runtime.errorExitCode]: code, [Runtime.errorReported]: false })

/** Succeeds once stdout's reader went away (EPIPE), so that the command ends as on Ctrl-C. */
const readerGone: Effect.Effect<ExitCode> = Effect.callback<ExitCode>((resume) => {
  const onError = (error: Error & { readonly code?: string }) => {
    if (error.code !== "EPIPE") throw error
    resume(Effect.succeed(ExitCode.Ok))
  }
  process.stdout.on("error", onError)
  return Effect.sync(() => process.stdout.off("error", onError))
})

// Deno's node:http2 throws a write's EPIPE as uncaught when a server closes the connection at
// once (the call itself fails as it should, and is reported): no reason to crash. Anything else
// uncaught is reported as unexpected.
process.on("uncaughtException", (error: Error & { readonly code?: string }) => {
  if (error.code === "EPIPE") return
  console.error(error)
  process.exit(ExitCode.Failed)
})

const args = process.argv.slice(2)
runMain(
  run(args).pipe(
    Effect.provide(Layer.merge(Platform.layer(args), Connector.layer)),
    Effect.raceFirst(readerGone),
    // Something unexpected broke: the runner logs it, and the exit code says so.
    Effect.catchDefect((defect) =>
      Effect.fail(
        Object.assign(new Error(defect instanceof Error ? defect.message : String(defect), { cause: defect }), {
          [Runtime.errorExitCode]: ExitCode.Failed
        })
      )
    ),
    Effect.flatMap((code) => code === ExitCode.Ok ? Effect.void : Effect.fail(exitWith(code)))
  )
)
