/**
 * The `whalewatcher` command as a separate process, on the runtime that runs the tests (Node
 * through tsx, Deno or Bun), for the CLI integration tests.
 */
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { type ProcessOutput, runProcess } from "../../src/testing/internal/process.ts"

const root = fileURLToPath(new URL("../..", import.meta.url))
const entry = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

/** How this runtime runs a TypeScript entry point. */
const command: ReadonlyArray<string> = "Deno" in globalThis
  ? [process.execPath, "run", "-A", entry]
  : process.versions["bun"] !== undefined
  ? [process.execPath, entry]
  : [process.execPath, "--import", "tsx", entry]

/**
 * Runs the command. With `until`, it is stopped with SIGTERM as soon as its output satisfies
 * `until`; `onReady` runs once it printed its first line on stderr (events) or stdout (watch);
 * `env` is added to this process's environment.
 */
export const whalewatcher = (
  args: ReadonlyArray<string>,
  options: {
    readonly until?: (stdout: string) => boolean
    readonly onReady?: (() => Promise<void>) | undefined
    readonly readyOn?: "stdout" | "stderr"
    readonly env?: Readonly<Record<string, string>>
  } = {}
): Effect.Effect<ProcessOutput> =>
  Effect.suspend(() => {
    let ready = false
    let stopped = false
    let driveFailure = ""
    return runProcess("whalewatcher", command[0]!, [...command.slice(1), ...args], {
      cwd: root,
      env: { NO_COLOR: "1", ...options.env },
      timeoutMillis: 20_000,
      onOutput: (running) => {
        const stop = () => {
          if (stopped) return
          stopped = true
          running.signal("SIGTERM")
        }
        const readyText = options.readyOn === "stdout" ? running.stdout : running.stderr
        if (!ready && options.onReady !== undefined && readyText.includes("\n")) {
          ready = true
          options.onReady().catch((error: unknown) => {
            driveFailure = `\n[test] driving the engine failed: ${String(error)}`
            stop()
          })
        }
        if (options.until?.(running.stdout)) stop()
      }
    }).pipe(
      Effect.map((finished) => ({ ...finished, stderr: finished.stderr + driveFailure })),
      Effect.orDie
    )
  })

/** The JSON lines of an output. */
export const jsonLines = (stdout: string) =>
  stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)

