/**
 * The example programs, run unchanged by Node (tsx), Deno and Bun against a real containerd;
 * their `--json` output is checked, and long-running ones must exit 0 on SIGTERM.
 */
import * as path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { type Context, Effect } from "effect"
import { ContainerdSandbox, DockerSandbox, PodmanSandbox } from "../../src/testing/index.ts"
import { byId } from "../../src/internal/ordering.ts"
import { type ProcessOutput, runProcess } from "../../src/testing/internal/process.ts"
import { eventually } from "../eventually.ts"

const root = path.resolve(import.meta.dirname, "../..")
const bin = (name: string) => path.join(root, "node_modules", ".bin", name)

/** The command line that runs a TypeScript file under each runtime, without wrappers that remap exit codes. */
export const runtimes: Record<string, ReadonlyArray<string>> = {
  node: [process.execPath, "--import", "tsx"],
  deno: [bin("deno"), "run", "-A"],
  bun: [bin("bun")]
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
): Effect.Effect<ProcessOutput> =>
  Effect.suspend(() => {
    let readyCalled = false
    let stopped = false
    return runProcess("example", runtime[0]!, [...runtime.slice(1), path.join(root, "examples", script), ...args], {
      cwd: root,
      env: { NO_COLOR: "1" },
      timeoutMillis: 60_000,
      onOutput: (running) => {
        // Long-running examples print a first line (events.ts on stderr, watch.ts its ready line on
        // stdout) once they are watching.
        if (options.whenReady !== undefined && !readyCalled && (running.stdout + running.stderr).includes("\n")) {
          readyCalled = true
          void options.whenReady()
        }
        if (!stopped && options.until?.(running.stdout)) {
          stopped = true
          running.signal("SIGTERM")
        }
      }
    }).pipe(Effect.orDie)
  })

const run = Math.random().toString(36).slice(2, 8)

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("examples on a real containerd", (it) => {
  for (const [name, runtime] of Object.entries(runtimes)) {
    describe(name, () => {
      it.effect("version.ts prints the engine's type, version, API, uuid and PID", () =>
        Effect.gen(function*() {
          const sandbox = yield* ContainerdSandbox.ContainerdSandbox
          const result = yield* runExample(runtime, "version.ts", ["--address", sandbox.socketPath])
          assert.strictEqual(result.exitCode, 0, result.stderr)
          assert.strictEqual(
            result.stdout.replace(/^(containerd\.io) 1\.\d+\.\d+\S* \S+ /, "$1 VERSION ").replace(/[0-9a-f-]{36}/, "UUID")
              .replace(/pid \d+/, "pid PID"),
            `containerd.io VERSION (${sandbox.socketPath})\nid UUID\npid PID\n`
          )
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
          assert.strictEqual(result.exitCode, 0, result.stderr)
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
          assert.strictEqual(result.exitCode, 0, result.stderr)
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
          assert.strictEqual(result.exitCode, 0, `exit ${result.exitCode} ${result.signal} ${result.stderr}`)
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
          let output = ""
          const drive = Effect.gen(function*() {
            yield* sandbox.run({ id, namespace, labels: { "nerdctl/name": "wally", "com.docker.compose.project": "zoo" } })
            // Paused once the start is announced (else it may be announced as the start of a paused container).
            yield* eventually(() => output.includes(`${namespace}/${id}`), "the start announced")
            yield* sandbox.pause(namespace, id)
            yield* sandbox.kill(namespace, `old-${run}`)
          }).pipe(Effect.timeout("20 seconds"))
          let driven: Promise<unknown> = Promise.resolve()
          const result = yield* runExample(runtime, "watch.ts", ["--json", "--address", sandbox.socketPath], {
            whenReady: () => (driven = Effect.runPromise(drive)),
            until: (stdout) => (output = stdout).includes("\"type\":\"exited\"")
          })
          yield* Effect.promise(() => driven)
          assert.strictEqual(result.exitCode, 0, `exit ${result.exitCode} ${result.signal} ${result.stderr}`)
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

/** The shapes of examples on Docker and Podman: the same as on containerd. */
const dockerExamples = (engine: "docker" | "podman", service: Context.Key<any, DockerSandbox.EngineSandboxOperations & { readonly socketPath: string }>, runtimeNames: ReadonlyArray<string>) =>
  (it: { readonly effect: (name: string, self: () => Effect.Effect<void, any, any>) => void }) => {
    for (const name of runtimeNames) {
      const runtime = runtimes[name]!
      describe(name, () => {
        it.effect(`list.ts --engine ${engine} --json prints the alive containers sorted by id`, () =>
          Effect.gen(function*() {
            const sandbox = yield* service
            const bee = yield* sandbox.run({ name: `bee-${name}-${run}`, labels: { "com.docker.compose.project": "hive" } })
            const ant = yield* sandbox.run({ name: `ant-${name}-${run}` })
            yield* sandbox.pause(ant.id)
            const result = yield* runExample(runtime, "list.ts", ["--engine", engine, "--json", "--address", sandbox.socketPath])
            assert.strictEqual(result.exitCode, 0, result.stderr)
            const listed = (JSON.parse(result.stdout) as Array<{ id: string } & Record<string, unknown>>)
              .filter((c) => c.id === bee.id || c.id === ant.id)
            assert.deepStrictEqual(listed, [
              { id: bee.id, name: `bee-${name}-${run}`, project: "hive", pid: bee.pid, paused: false, labels: { "com.docker.compose.project": "hive" } },
              { id: ant.id, name: `ant-${name}-${run}`, project: "", pid: ant.pid, paused: true, labels: {} }
            ].sort(byId))
            yield* Effect.all([sandbox.remove(bee.id), sandbox.remove(ant.id)], { concurrency: "unbounded" })
          }))

        it.effect(`watch.ts --engine ${engine} --json prints ready, then each change, and exits 0 on SIGTERM`, () =>
          Effect.gen(function*() {
            const sandbox = yield* service
            const old = yield* sandbox.run({ name: `old-${name}-${run}` })
            let started = { id: "", pid: 0 }
            let output = ""
            const drive = Effect.gen(function*() {
              started = yield* sandbox.run({ name: `wally-${name}-${run}`, labels: { "com.docker.compose.project": "zoo" } })
              // Paused once the start is announced (else it may be announced as the start of a paused container).
              yield* eventually(() => output.includes(started.id), "the start announced")
              yield* sandbox.pause(started.id)
              yield* sandbox.kill(old.id)
            }).pipe(Effect.timeout("20 seconds"))
            let driven: Promise<unknown> = Promise.resolve()
            const result = yield* runExample(runtime, "watch.ts", ["--engine", engine, "--json", "--address", sandbox.socketPath], {
              whenReady: () => (driven = Effect.runPromise(drive)),
              until: (stdout) => (output = stdout).includes("\"type\":\"exited\"")
            })
            // The kill returns once the daemon says the container stopped, which may be after its event.
            yield* Effect.promise(() => driven)
            assert.strictEqual(result.exitCode, 0, `exit ${result.exitCode} ${result.signal} ${result.stderr}`)
            const lines = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
            assert.strictEqual(lines[0]?.["type"], "ready")
            const ours = lines.slice(1).filter((l) => l["id"] === started.id || l["id"] === old.id)
            assert.deepStrictEqual(ours, [
              { type: "started", id: started.id, name: `wally-${name}-${run}`, project: "zoo", pid: started.pid, paused: false },
              { type: "paused", id: started.id, name: `wally-${name}-${run}`, project: "zoo", pid: started.pid, paused: true },
              { type: "exited", id: old.id, name: `old-${name}-${run}`, project: "", pid: old.pid, paused: false }
            ])
            yield* Effect.all([sandbox.remove(started.id), sandbox.remove(old.id)], { concurrency: "unbounded" })
          }))

        it.effect(`version.ts --engine ${engine} prints the daemon's version, API and ID`, () =>
          Effect.gen(function*() {
            const sandbox = yield* service
            const result = yield* runExample(runtime, "version.ts", ["--engine", engine, "--address", sandbox.socketPath])
            assert.strictEqual(result.exitCode, 0, result.stderr)
            assert.match(result.stdout, new RegExp(`^docker\\.com \\S+.*API 1\\.\\d+.* \\(${sandbox.socketPath}\\)\\nid \\S+\\npid \\d+\\n$`))
          }))
      })
    }
  }

layer(DockerSandbox.layer(), { excludeTestServices: true, timeout: "120 seconds" })(
  "examples on a real dockerd",
  dockerExamples("docker", DockerSandbox.DockerSandbox, ["node", "deno", "bun"])
)

layer(PodmanSandbox.layer(), { excludeTestServices: true, timeout: "120 seconds" })(
  "examples on a real podman",
  dockerExamples("podman", PodmanSandbox.PodmanSandbox, ["node"])
)

describe("npm run demo", () => {
  it.effect("shows the scene live (moby never), then tears everything down and exits 0", () =>
    Effect.gen(function*() {
      const result = yield* runExample(runtimes["node"]!, "demo.ts", ["--json"], {})
      assert.strictEqual(result.exitCode, 0, result.stderr)
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

  it.effect("--engine docker: the same scene on a private dockerd (hello renamed), torn down, exit 0", () =>
    Effect.gen(function*() {
      const result = yield* runExample(runtimes["node"]!, "demo.ts", ["--json", "--engine", "docker"], {})
      assert.strictEqual(result.exitCode, 0, result.stderr)
      const lines = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepStrictEqual(lines[0], { type: "ready", containers: 4 })
      assert.deepStrictEqual(lines.slice(1).map((l) => `${l["type"]} ${l["name"]}`), [
        "started shop-worker",
        "unpaused shop-db",
        "updated hi",
        "exited shop-api",
        "paused shop-web"
      ])
      const directory = /private dockerd at (\S+)\/docker\.sock/.exec(result.stderr)?.[1]
      assert.isString(directory, result.stderr)
      assert.isFalse(yield* Effect.promise(() => import("node:fs/promises").then((fs) => fs.access(directory!).then(() => true, () => false))))
    }))
})
