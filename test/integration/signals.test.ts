/**
 * Signals through `npm run`, as the README documents them, against a REAL containerd. npm runs a
 * script through `sh -c` and passes a signal on to that shell only: without `exec` in the script
 * the shell died of SIGTERM and left the command running, orphaned, and ignored SIGINT (so
 * nothing ended). Our scripts `exec` the command, so the signal reaches it: it closes its
 * subscription and exits 0, npm with it, and no process is left behind. A Ctrl-C on a terminal
 * signals the whole process group: the same end.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { ContainerdSandbox } from "../../src/testing/index.ts"

const root = path.resolve(import.meta.dirname, "../..")

/** PIDs of the processes whose command line mentions `text` (this machine's /proc). */
const processesMentioning = (text: string): ReadonlyArray<number> =>
  fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).flatMap((entry) => {
    try {
      const commandLine = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8")
      const state = fs.readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.[0]
      return commandLine.includes(text) && state !== "Z" ? [Number(entry)] : []
    } catch {
      return [] // gone meanwhile
    }
  })

interface NpmRun {
  /** npm's exit code, or the signal that ended it. */
  readonly npmExit: number | string | null
  /** The command's processes still alive some time after npm ended (none: nothing orphaned). */
  readonly leftBehind: ReadonlyArray<number>
  readonly stderr: string
}

/**
 * `npm run whalewatcher -- --address SOCKET events`; once it follows events, `signal` goes to npm
 * alone (`"npm"`) or to its whole process group (`"group"`, as a terminal's Ctrl-C).
 */
const npmRunEvents = (socketPath: string, signal: "SIGINT" | "SIGTERM", target: "npm" | "group") =>
  Effect.callback<NpmRun>((resume) => {
    const child = spawn("npm", ["run", "-s", "whalewatcher", "--", "--address", socketPath, "events"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { ...process.env, NO_COLOR: "1" }
    })
    let stderr = ""
    let signalled = false
    const killer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 60_000)
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      if (!signalled && stderr.includes("following events")) {
        signalled = true
        process.kill(target === "npm" ? child.pid! : -child.pid!, signal)
      }
    })
    child.stdout.resume()
    child.on("exit", (code, signalName) => {
      clearTimeout(killer)
      // The command ends on its own a moment after npm: wait for it, up to 10 s.
      const startedWaiting = Date.now()
      const check = () => {
        const leftBehind = processesMentioning(socketPath)
        if (leftBehind.length === 0 || Date.now() - startedWaiting > 10_000) {
          for (const pid of leftBehind) process.kill(pid, "SIGKILL")
          resume(Effect.succeed({ npmExit: code ?? signalName, leftBehind, stderr }))
        } else {
          setTimeout(check, 50)
        }
      }
      check()
    })
    return Effect.sync(() => {
      clearTimeout(killer)
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // already gone
      }
    })
  })

layer(ContainerdSandbox.layer(), { excludeTestServices: true, timeout: "120 seconds" })("signals through npm run", (it) => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it.effect(`${signal} to npm: the command gets it and exits 0, npm exits 0, nothing is orphaned`, () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const result = yield* npmRunEvents(sandbox.socketPath, signal, "npm")
        assert.strictEqual(result.npmExit, 0, result.stderr)
        assert.deepStrictEqual(result.leftBehind, [], result.stderr)
      }))
  }

  it.effect("Ctrl-C (SIGINT to the process group): the command and npm exit 0, nothing is orphaned", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox.ContainerdSandbox
      const result = yield* npmRunEvents(sandbox.socketPath, "SIGINT", "group")
      assert.strictEqual(result.npmExit, 0, result.stderr)
      assert.deepStrictEqual(result.leftBehind, [], result.stderr)
      assert.notInclude(result.stderr, "\n    at ", "no stack trace")
    }))
})
