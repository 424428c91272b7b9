/**
 * Signals through `npm run`, as the README documents them, against a REAL containerd. npm runs a
 * script through `sh -c` and passes a signal on to that shell only: without `exec` in the script
 * the shell died of SIGTERM and left the command running, orphaned, and ignored SIGINT (so
 * nothing ended). Our scripts `exec` the command, so the signal reaches it: it closes its
 * subscription and exits 0, npm with it, and no process is left behind. A Ctrl-C on a terminal
 * signals the whole process group: the same end.
 */
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { processesMentioning } from "../../src/internal/procfs.ts"
import { ContainerdSandbox } from "../../src/testing/index.ts"
import { runProcess, signalProcess } from "../../src/testing/internal/process.ts"
import { waitUntil } from "../../src/testing/internal/waiting.ts"

const root = path.resolve(import.meta.dirname, "../..")

/** PIDs of the live processes whose command line mentions `text`. */
const pidsMentioning = (text: string) =>
  Effect.promise(async () => (await processesMentioning(text)).map((info) => info.pid))

interface NpmRun {
  /** npm's exit code, or the signal that ended it. */
  readonly npmExit: number | string
  /** The command's processes still alive some time after npm ended (none: nothing orphaned). */
  readonly leftBehind: ReadonlyArray<number>
  readonly stderr: string
}

/**
 * `npm run whalewatcher -- --address SOCKET events`; once it follows events, `signal` goes to npm
 * alone (`"npm"`) or to its whole process group (`"group"`, as a terminal's Ctrl-C).
 */
const npmRunEvents = (socketPath: string, signal: "SIGINT" | "SIGTERM", target: "npm" | "group") =>
  Effect.gen(function*() {
    let signalled = false
    const npm = yield* runProcess("npm", "npm", ["run", "-s", "whalewatcher", "--", "--address", socketPath, "events"], {
      cwd: root,
      env: { NO_COLOR: "1" },
      detached: true,
      timeoutMillis: 60_000,
      onOutput: (running) => {
        if (!signalled && running.stderr.includes("following events")) {
          signalled = true
          running.signal(signal, target === "npm" ? "process" : "group")
        }
      }
    }).pipe(Effect.orDie)
    // The command ends on its own a moment after npm: wait for it, up to 10 s.
    yield* waitUntil(Effect.map(pidsMentioning(socketPath), (pids) => pids.length === 0), 10_000)
    const leftBehind = yield* pidsMentioning(socketPath)
    for (const pid of leftBehind) signalProcess(pid, "SIGKILL")
    return { npmExit: npm.signal ?? npm.exitCode, leftBehind, stderr: npm.stderr } satisfies NpmRun
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
