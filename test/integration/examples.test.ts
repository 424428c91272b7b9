/**
 * The example programs, run unchanged by Node (tsx), Deno and Bun against a real containerd;
 * their `--json` output is checked, and long-running ones must exit 0 on SIGTERM.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { ContainerdSandbox } from "../../src/testing/index.ts"

const root = path.resolve(import.meta.dirname, "../..")
const bin = (name: string) => path.join(root, "node_modules", ".bin", name)

/** The command line that runs a TypeScript file under each runtime, without wrappers that remap exit codes. */
export const runtimes: Record<string, ReadonlyArray<string>> = {
  node: [process.execPath, "--import", "tsx"],
  deno: [bin("deno"), "run", "-A"],
  bun: [bin("bun")]
}

interface Finished {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs an example; when `until` is given, waits until stdout satisfies it (calling `whenReady` once
 * the program printed its first line), then sends SIGTERM.
 */
const runExample = (
  runtime: ReadonlyArray<string>,
  script: string,
  args: ReadonlyArray<string>,
  options: { readonly until?: (stdout: string) => boolean; readonly whenReady?: () => Promise<void> } = {}
) =>
  Effect.callback<Finished>((resume) => {
    const child = spawn(runtime[0]!, [...runtime.slice(1), path.join(root, "examples", script), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" }
    })
    let stdout = ""
    let stderr = ""
    let readyCalled = false
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    // Long-running examples print a first line (events.ts on stderr, watch.ts its ready line on
    // stdout) once they are watching.
    const checkReady = () => {
      if (options.whenReady !== undefined && !readyCalled && (stdout + stderr).includes("\n")) {
        readyCalled = true
        void options.whenReady()
      }
    }
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      checkReady()
      if (options.until?.(stdout)) child.kill("SIGTERM")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      checkReady()
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, signal, stdout, stderr }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const run = Math.random().toString(36).slice(2, 8)

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("examples on a real containerd", (it) => {
  for (const [name, runtime] of Object.entries(runtimes)) {
    describe(name, () => {
      it.effect("version.ts prints the engine version and uuid", () =>
        Effect.gen(function*() {
          const sandbox = yield* ContainerdSandbox.ContainerdSandbox
          const result = yield* runExample(runtime, "version.ts", ["--address", sandbox.socketPath])
          assert.strictEqual(result.code, 0, result.stderr)
          assert.match(result.stdout, /^containerd 1\.\S+ \(revision \S+\) at \S+\nuuid [0-9a-f-]{36}\n$/)
        }))

      it.effect("list.ts escapes container-controlled names and projects in its table", () =>
        Effect.gen(function*() {
          const sandbox = yield* ContainerdSandbox.ContainerdSandbox
          const namespace = `esc-${name}`
          yield* sandbox.run({
            id: `e-${run}`,
            namespace,
            labels: { "nerdctl/name": "evil\x1b]0;pwned\x07", "com.docker.compose.project": "p\x1b[2J" }
          })
          const result = yield* runExample(runtime, "list.ts", ["--address", sandbox.socketPath])
          assert.strictEqual(result.code, 0, result.stderr)
          assert.notInclude(result.stdout, "\x1b")
          assert.notInclude(result.stdout, "\x07")
          assert.include(result.stdout, `${namespace}/evil\\x1b]0;pwned\\x07`)
          assert.include(result.stdout, "p\\x1b[2J")
        }))

      it.effect("list.ts --json prints the alive containers sorted by id (CONTAINERD_ADDRESS honoured)", () =>
        Effect.gen(function*() {
          const sandbox = yield* ContainerdSandbox.ContainerdSandbox
          const namespace = `ex-${name}`
          const pid = yield* sandbox.run({
            id: `b-${run}`,
            namespace,
            labels: { "nerdctl/name": "bee", "com.docker.compose.project": "hive" }
          })
          yield* sandbox.run({ id: `a-${run}`, namespace })
          yield* sandbox.pause(namespace, `a-${run}`)
          process.env["CONTAINERD_ADDRESS"] = `unix://${sandbox.socketPath}`
          const result = yield* runExample(runtime, "list.ts", ["--json"]).pipe(
            Effect.ensuring(Effect.sync(() => delete process.env["CONTAINERD_ADDRESS"]))
          )
          assert.strictEqual(result.code, 0, result.stderr)
          const listed = (JSON.parse(result.stdout) as Array<{ id: string; pid: number } & Record<string, unknown>>)
            .filter((c) => c.id.startsWith(`${namespace}/`))
          assert.isNumber(listed[0]?.pid)
          assert.deepStrictEqual(listed, [
            { id: `${namespace}/a-${run}`, name: `${namespace}/a-${run}`, project: "", pid: listed[0]!.pid, paused: true, labels: {} },
            {
              id: `${namespace}/b-${run}`,
              name: `${namespace}/bee`,
              project: "hive",
              pid,
              paused: false,
              labels: { "nerdctl/name": "bee", "com.docker.compose.project": "hive" }
            }
          ])
          yield* sandbox.remove(namespace, `a-${run}`)
          yield* sandbox.remove(namespace, `b-${run}`)
        }))

      it.effect("events.ts --json prints lifecycle events and exits 0 on SIGTERM", () =>
        Effect.gen(function*() {
          const sandbox = yield* ContainerdSandbox.ContainerdSandbox
          const namespace = `evx-${name}`
          const id = `e-${run}`
          const drive = Effect.gen(function*() {
            yield* sandbox.run({ id, namespace, labels: { "nerdctl/name": "eve" } })
            yield* sandbox.pause(namespace, id)
            yield* sandbox.resume(namespace, id)
            yield* sandbox.kill(namespace, id)
          })
          const result = yield* runExample(runtime, "events.ts", ["--json", "--address", sandbox.socketPath], {
            whenReady: () => Effect.runPromise(drive),
            until: (stdout) => stdout.includes("\"type\":\"exited\"")
          })
          assert.strictEqual(result.code, 0, `exit ${result.code} ${result.signal} ${result.stderr}`)
          const lines = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
          assert.deepStrictEqual(lines.map((l) => [l["type"], l["id"], l["name"]]), [
            ["started", `${namespace}/${id}`, `${namespace}/eve`],
            ["paused", `${namespace}/${id}`, `${namespace}/eve`],
            ["unpaused", `${namespace}/${id}`, `${namespace}/eve`],
            ["exited", `${namespace}/${id}`, `${namespace}/eve`]
          ])
          for (const line of lines) {
            assert.isNumber(line["pid"])
            assert.isString(line["timestamp"])
            assert.strictEqual(line["project"], "")
          }
          yield* sandbox.remove(namespace, id)
        }))

      it.effect("watch.ts --json prints ready, then each change, and exits 0 on SIGTERM", () =>
        Effect.gen(function*() {
          const sandbox = yield* ContainerdSandbox.ContainerdSandbox
          const namespace = `wx-${name}`
          const id = `w-${run}`
          yield* sandbox.run({ id: `old-${run}`, namespace })
          const drive = Effect.gen(function*() {
            yield* sandbox.run({ id, namespace, labels: { "nerdctl/name": "wally", "com.docker.compose.project": "zoo" } })
            yield* sandbox.pause(namespace, id)
            yield* sandbox.kill(namespace, `old-${run}`)
          })
          const result = yield* runExample(runtime, "watch.ts", ["--json", "--address", sandbox.socketPath], {
            whenReady: () => Effect.runPromise(drive),
            until: (stdout) => stdout.includes("\"type\":\"exited\"")
          })
          assert.strictEqual(result.code, 0, `exit ${result.code} ${result.signal} ${result.stderr}`)
          const lines = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
          assert.strictEqual(lines[0]?.["type"], "ready")
          assert.isAtLeast(lines[0]?.["containers"] as number, 1)
          const ours = lines.slice(1).filter((l) => String(l["id"]).startsWith(`${namespace}/`))
          assert.deepStrictEqual(ours.map((l) => [l["type"], l["id"], l["name"], l["project"], l["paused"]]), [
            ["started", `${namespace}/${id}`, `${namespace}/wally`, "zoo", false],
            ["paused", `${namespace}/${id}`, `${namespace}/wally`, "zoo", true],
            ["exited", `${namespace}/old-${run}`, `${namespace}/old-${run}`, "", false]
          ])
          for (const line of ours) assert.isNumber(line["pid"])
          yield* sandbox.remove(namespace, id)
          yield* sandbox.remove(namespace, `old-${run}`)
        }))
    })
  }
})

describe("npm run demo", () => {
  it.effect("shows the scene live (moby never), then tears everything down and exits 0", () =>
    Effect.gen(function*() {
      const result = yield* runExample(runtimes["node"]!, "demo.ts", ["--json"], {})
      assert.strictEqual(result.code, 0, result.stderr)
      const lines = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepStrictEqual(lines[0], { type: "ready", containers: 4 })
      assert.deepStrictEqual(lines.slice(1).map((l) => `${l["type"]} ${l["id"]}`), [
        "started demo/shop-worker",
        "unpaused demo/shop-db",
        "updated hello",
        "exited demo/shop-api",
        "paused demo/shop-web"
      ])
      assert.strictEqual(lines[3]?.["project"], "greetings")
      const directory = /private containerd at (\S+)\/containerd\.sock/.exec(result.stderr)?.[1]
      assert.isString(directory, result.stderr)
      assert.isFalse(yield* Effect.promise(() => import("node:fs/promises").then((fs) => fs.access(directory!).then(() => true, () => false))))
    }))
})
