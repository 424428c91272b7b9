#!/usr/bin/env node
/**
 * The entry point of the `whalewatcher` command, for Node (`node --import tsx src/cli/main.ts`,
 * or the `whalewatcher` bin), Deno (`deno run -A src/cli/main.ts`) and Bun (`bun src/cli/main.ts`).
 *
 * It runs the command line on containerd and exits with the command's exit code. SIGINT and
 * SIGTERM interrupt the command, which closes its subscriptions and connections and exits 0; a
 * second signal exits at once. A reader that goes away (`whalewatcher events | head -1`) ends
 * the command quietly.
 *
 * @since 0.1.0
 */
import process from "node:process"
import { Effect, Exit, Layer, Logger } from "effect"
import { run } from "./Cli.ts"
import * as Connector from "./Connector.ts"
import { ExitCode } from "./ExitCode.ts"
import * as Platform from "./Platform.ts"

const args = process.argv.slice(2)
// Logs (e.g. the Watcher's warnings) go to stderr: stdout carries only the command's output.
const fiber = Effect.runFork(
  run(args).pipe(
    Effect.provide(Layer.merge(Platform.layer(args), Connector.layer)),
    Effect.provideService(Logger.LogToStderr, true)
  )
)

let stopping = false
const stop = () => {
  if (stopping) process.exit(130)
  stopping = true
  fiber.interruptUnsafe()
}
const onOutputError = (error: Error & { readonly code?: string }) => {
  if (error.code !== "EPIPE") throw error
  stop()
}
// Deno's node:http2 throws a write's EPIPE as uncaught when a server closes the connection at
// once (the call itself fails as it should, and is reported): no reason to crash. Anything else
// uncaught is reported as unexpected.
process.on("uncaughtException", (error: Error & { readonly code?: string }) => {
  if (error.code === "EPIPE") return
  console.error(error)
  process.exit(ExitCode.Failed)
})
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
process.stdout.on("error", onOutputError)

fiber.addObserver((exit) => {
  process.off("SIGINT", stop)
  process.off("SIGTERM", stop)
  process.exitCode = Exit.isSuccess(exit) ? exit.value : stopping ? ExitCode.Ok : ExitCode.Failed
})
