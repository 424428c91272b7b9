/**
 * The `whalewatcher` command as a separate process against a REAL containerd (the private one
 * the ContainerdSandbox layer starts for this file): ls, inspect, events and watch, their output
 * and exit codes, and a clean exit 0 on SIGTERM. The command runs on the runtime that runs the
 * tests (Node through tsx, Deno or Bun).
 */
import { assert, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { ContainerdSandbox } from "../../src/testing/index.ts"
import { eventually } from "../eventually.ts"
import { jsonLines, whalewatcher } from "./cliProcess.ts"
import { impostor, impostors } from "./impostors.ts"

// Namespaces unique to this run: runc keeps state per namespace/id outside the sandbox.
const run = Math.random().toString(36).slice(2, 8)

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("whalewatcher on a real containerd", (it) => {
  it.effect("ls and inspect: tables, JSON, not found and processless", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox.ContainerdSandbox
      const ns = `cli-${run}`
      const [webPid, dbPid] = yield* Effect.all([
        sandbox.run({ id: "web", namespace: ns, labels: { "nerdctl/name": "web", "com.docker.compose.project": "shop" } }),
        sandbox.run({ id: "db", namespace: ns, labels: { "com.docker.compose.project": "shop", tier: "back" } }),
        sandbox.run({ id: "tool", namespace: ns }),
        sandbox.create({ id: "idle", namespace: ns })
      ], { concurrency: "unbounded" })
      const [toolPid] = (yield* sandbox.tasks(ns)).filter((task) => task.id === "tool").map((task) => task.pid)
      yield* sandbox.pause(ns, "db")
      const address = ["--address", sandbox.socketPath, "-n", ns]

      const [table, json, found, foundJson, missing, processless] = yield* Effect.all([
        whalewatcher([...address, "ls"]),
        whalewatcher(["ls", "--json", ...address]),
        whalewatcher([...address, "inspect", `${ns}/web`]),
        whalewatcher([...address, "inspect", `${ns}/db`, "--json"]),
        whalewatcher([...address, "inspect", "nothing"]),
        whalewatcher([...address, "inspect", `${ns}/idle`])
      ], { concurrency: 3 })

      assert.strictEqual(table.exitCode, ExitCode.Ok, table.stderr)
      const width = `${ns}/tool`.length
      const pidWidth = Math.max(3, ...[webPid, dbPid, toolPid].map((pid) => String(pid).length))
      const row = (id: string, name: string, pid: string, state: string) =>
        `  ${id.padEnd(width)}  ${name.padEnd(width)}  ${pid.padStart(pidWidth)}  ${state}`
      assert.strictEqual(
        table.stdout,
        [
          "PROJECT shop",
          row("ID", "NAME", "PID", "STATE"),
          row(`${ns}/db`, `${ns}/db`, String(dbPid), "paused"),
          row(`${ns}/web`, `${ns}/web`, String(webPid), "running"),
          "",
          "NO PROJECT",
          row("ID", "NAME", "PID", "STATE"),
          row(`${ns}/tool`, `${ns}/tool`, String(toolPid), "running"),
          ""
        ].join("\n")
      )

      assert.strictEqual(json.exitCode, ExitCode.Ok, json.stderr)
      assert.deepStrictEqual(JSON.parse(json.stdout), [
        {
          id: `${ns}/db`,
          name: `${ns}/db`,
          project: "shop",
          pid: dbPid,
          paused: true,
          labels: { "com.docker.compose.project": "shop", tier: "back" }
        },
        { id: `${ns}/tool`, name: `${ns}/tool`, project: "", pid: toolPid, paused: false, labels: {} },
        {
          id: `${ns}/web`,
          name: `${ns}/web`,
          project: "shop",
          pid: webPid,
          paused: false,
          labels: { "nerdctl/name": "web", "com.docker.compose.project": "shop" }
        }
      ])

      assert.strictEqual(found.exitCode, ExitCode.Ok, found.stderr)
      assert.strictEqual(
        found.stdout,
        [
          `ID         ${ns}/web`,
          `NAME       ${ns}/web`,
          "PROJECT    shop",
          `NAMESPACE  ${ns}`,
          `PID        ${webPid}`,
          "STATE      running",
          "LABELS     com.docker.compose.project=shop",
          "           nerdctl/name=web",
          ""
        ].join("\n")
      )
      assert.strictEqual(foundJson.exitCode, ExitCode.Ok, foundJson.stderr)
      assert.deepStrictEqual(JSON.parse(foundJson.stdout), {
        id: `${ns}/db`,
        name: `${ns}/db`,
        project: "shop",
        namespace: ns,
        pid: dbPid,
        paused: true,
        labels: { "com.docker.compose.project": "shop", tier: "back" }
      })

      assert.deepStrictEqual(missing, {
        exitCode: ExitCode.NotFound,
        signal: undefined,
        stdout: "",
        stderr: "whalewatcher: no container named or with ID \"nothing\"\n"
      })
      assert.deepStrictEqual(processless, {
        exitCode: ExitCode.NotFound,
        signal: undefined,
        stdout: "",
        stderr:
          `whalewatcher: container "${ns}/idle" has no running process: it was created and never started, or it has exited\n`
      })
      yield* Effect.all(["web", "db", "tool", "idle"].map((name) => sandbox.remove(ns, name)), { concurrency: "unbounded" })
    }))

  it.effect("inspect by name: slashes and spaces in default are found; a missing name with control characters is exit 1", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox.ContainerdSandbox
      const slashed = `web-${run}/front`
      const spaced = `a b-${run}/x`
      const [slashedPid, spacedPid] = yield* Effect.all([
        sandbox.run({ id: `front-${run}`, labels: { "nerdctl/name": slashed } }),
        sandbox.run({ id: `spaced-${run}`, labels: { "nerdctl/name": spaced } })
      ], { concurrency: "unbounded" })
      const address = ["--address", sandbox.socketPath]
      const hostile = `nope\x01\r\n-${run}/x\x7f`
      const [bySlash, bySpace, missing, missingSpaced] = yield* Effect.all([
        whalewatcher([...address, "inspect", slashed, "--json"]),
        whalewatcher([...address, "inspect", spaced, "--json"]),
        whalewatcher([...address, "inspect", hostile]),
        whalewatcher([...address, "inspect", `a b-${run}/nope`])
      ], { concurrency: 2 })
      assert.strictEqual(bySlash.exitCode, ExitCode.Ok, bySlash.stderr)
      assert.deepInclude(JSON.parse(bySlash.stdout), { id: `front-${run}`, name: slashed, pid: slashedPid })
      assert.strictEqual(bySpace.exitCode, ExitCode.Ok, bySpace.stderr)
      assert.deepInclude(JSON.parse(bySpace.stdout), { id: `spaced-${run}`, name: spaced, pid: spacedPid })
      assert.strictEqual(missing.exitCode, ExitCode.NotFound, missing.stderr)
      assert.include(missing.stderr, "no container named or with ID")
      assert.strictEqual(missingSpaced.exitCode, ExitCode.NotFound, missingSpaced.stderr)
      yield* Effect.all([sandbox.remove("default", `front-${run}`), sandbox.remove("default", `spaced-${run}`)], {
        concurrency: "unbounded"
      })
    }))

  it.effect("events --json: started, paused, unpaused, exited; exit 0 on SIGTERM", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox.ContainerdSandbox
      const ns = `clievents-${run}`
      const result = yield* whalewatcher(["events", "--json", "-n", ns], {
        onReady: () =>
          Effect.runPromise(Effect.gen(function*() {
            yield* sandbox.run({ id: "job", namespace: ns, labels: { "nerdctl/name": "batch" } })
            yield* sandbox.pause(ns, "job")
            yield* sandbox.resume(ns, "job")
            yield* sandbox.kill(ns, "job")
          })),
        until: (stdout) => stdout.includes("\"exited\"")
      }).pipe(withAddress(sandbox.socketPath))
      assert.strictEqual(result.exitCode, ExitCode.Ok, result.stderr)
      assert.match(result.stderr, /^whalewatcher: following events of containerd at \S+ \(0 containers alive\); Ctrl-C ends\n$/)
      const lines = jsonLines(result.stdout)
      assert.deepStrictEqual(lines.map((line) => [line["type"], line["id"], line["name"], line["project"]]), [
        ["started", `${ns}/job`, `${ns}/batch`, ""],
        ["paused", `${ns}/job`, `${ns}/batch`, ""],
        ["unpaused", `${ns}/job`, `${ns}/batch`, ""],
        ["exited", `${ns}/job`, `${ns}/batch`, ""]
      ])
      for (const line of lines) {
        assert.isNumber(line["pid"])
        assert.match(String(line["timestamp"]), /^\d{4}-\d\d-\d\dT/)
      }
      yield* sandbox.remove(ns, "job")
    }))

  it.effect("watch --json: ready with the alive containers, then a start and a pause; exit 0 on SIGTERM", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox.ContainerdSandbox
      const ns = `cliwatch-${run}`
      yield* sandbox.run({ id: "old", namespace: ns })
      let newPid = 0
      let output = ""
      const result = yield* whalewatcher(["--address", sandbox.socketPath, "watch", "--json", "--namespace", ns], {
        readyOn: "stdout",
        onReady: () =>
          Effect.runPromise(Effect.gen(function*() {
            newPid = yield* sandbox.run({ id: "new", namespace: ns, labels: { "com.docker.compose.project": "lab" } })
            // Paused only once the start is announced: a pause before the start is looked up
            // would be announced as a start of a paused container, and no pause after it.
            yield* eventually(() => output.includes("\"type\":\"started\""), "the start announced")
            yield* sandbox.pause(ns, "new")
          }).pipe(Effect.timeout("15 seconds"))),
        until: (stdout) => (output = stdout).includes("\"type\":\"paused\"")
      })
      assert.strictEqual(result.exitCode, ExitCode.Ok, result.stderr)
      assert.strictEqual(result.stderr, "")
      assert.deepStrictEqual(jsonLines(result.stdout), [
        { type: "ready", containers: 1 },
        { type: "started", id: `${ns}/new`, name: `${ns}/new`, project: "lab", pid: newPid, paused: false },
        { type: "paused", id: `${ns}/new`, name: `${ns}/new`, project: "lab", pid: newPid, paused: true }
      ])
      yield* Effect.all([sandbox.remove(ns, "old"), sandbox.remove(ns, "new")], { concurrency: "unbounded" })
    }))

  it.effect("ls on a socket that is not containerd's API: exit 3 within seconds, a clear message, no stack trace", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox.ContainerdSandbox
      const paths: Array<readonly [string, string]> = [
        ...(yield* Effect.forEach(impostors, (kind) => Effect.map(impostor(kind), (path) => [kind, path] as const))),
        // containerd's own ttrpc socket, beside its gRPC one
        ["containerd's ttrpc socket", `${sandbox.socketPath}.ttrpc`]
      ]
      const results = yield* Effect.forEach(paths, ([kind, path]) =>
        Effect.map(Effect.timed(whalewatcher(["--address", path, "ls"])), ([took, result]) => ({ kind, path, took, result })), {
        concurrency: "unbounded"
      })
      for (const { kind, path, result, took } of results) {
        const what = `${kind}: exit ${result.exitCode} after ${Duration.toMillis(took)} ms: ${result.stderr}`
        assert.strictEqual(result.exitCode, ExitCode.EngineUnavailable, what)
        // Deno's node:http2 may also print "Uncaught Error: Protocol error" (an error event of a
        // session connect-es has let go) on stdout: a polyfill's line, no output of ours.
        assert.strictEqual(result.stdout.replace(/^.*Uncaught Error: Protocol error\n$/, ""), "", what)
        assert.notMatch(result.stderr, /\n\s+at /, what) // no stack trace
        assert.include(result.stderr, path, what)
        assert.include(result.stderr, kind === "regular-file" ? "is not a socket" : "is not a containerd API socket", what)
      }
    }).pipe(Effect.scoped))
})

/** Runs the effect with CONTAINERD_ADDRESS set (so the command finds the socket without --address). */
const withAddress = (socketPath: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      process.env["CONTAINERD_ADDRESS"] = `unix://${socketPath}`
    }),
    () => effect,
    () => Effect.sync(() => delete process.env["CONTAINERD_ADDRESS"])
  )
