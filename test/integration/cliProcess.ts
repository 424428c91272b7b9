/**
 * The `whalewatcher` command as a separate process, on the runtime that runs the tests (Node
 * through tsx, Deno or Bun), for the CLI integration tests.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

const root = fileURLToPath(new URL("../..", import.meta.url))
const entry = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

/** How this runtime runs a TypeScript entry point. */
const command: ReadonlyArray<string> = "Deno" in globalThis
  ? [process.execPath, "run", "-A", entry]
  : process.versions["bun"] !== undefined
  ? [process.execPath, entry]
  : [process.execPath, "--import", "tsx", entry]

/** How the command ended, and what it printed. */
export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

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
) =>
  Effect.callback<Finished>((resume) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...options.env }
    })
    let stdout = ""
    let stderr = ""
    let ready = false
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    const checkReady = (text: string) => {
      if (!ready && options.onReady !== undefined && text.includes("\n")) {
        ready = true
        options.onReady().catch((error: unknown) => {
          stderr += `\n[test] driving the engine failed: ${String(error)}`
          stop()
        })
      }
    }
    let stopped = false
    // process.kill rather than child.kill: Deno reports a child it signalled itself as killed by
    // the signal, whatever exit code the child chose.
    const stop = () => {
      if (stopped || child.pid === undefined) return
      stopped = true
      process.kill(child.pid, "SIGTERM")
    }
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      if (options.readyOn === "stdout") checkReady(stdout)
      if (options.until?.(stdout)) stop()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      if (options.readyOn !== "stdout") checkReady(stderr)
    })
    child.on("close", (code) => {
      clearTimeout(killer)
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** The JSON lines of an output. */
export const jsonLines = (stdout: string) =>
  stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)

