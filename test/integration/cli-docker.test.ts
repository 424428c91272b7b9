/**
 * The `whalewatcher` command with `--engine docker` and `--engine podman`, as a separate process
 * against a REAL private dockerd and a REAL podman service: ls, inspect, events and watch print
 * the same shapes as on containerd, with the names, projects, PIDs and states `docker inspect`
 * tells.
 */
import { assert, layer } from "@effect/vitest"
import { type Context, Effect, type Layer } from "effect"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { DockerSandbox, PodmanSandbox } from "../../src/testing/index.ts"
import { byId } from "../../src/internal/ordering.ts"
import { eventually } from "../eventually.ts"
import { jsonLines, whalewatcher } from "./cliProcess.ts"

const run = Math.random().toString(36).slice(2, 8)

type Sandbox = DockerSandbox.EngineSandboxOperations & { readonly socketPath: string }

interface Inspected {
  readonly Id: string
  readonly Name: string
  readonly State: { readonly Pid: number; readonly Paused: boolean }
}

const suite = (
  title: string,
  sandboxLayer: Layer.Layer<any, any, never>,
  service: Context.Key<any, Sandbox>,
  engine: "docker" | "podman",
  variable: "DOCKER_HOST" | "CONTAINER_HOST"
) =>
  layer(sandboxLayer, { excludeTestServices: true, timeout: "120 seconds" })(title, (it) => {
    it.effect("ls and inspect: tables and JSON with names, projects, PIDs and states; not found is exit 1", () =>
      Effect.gen(function*() {
        const sandbox = yield* service
        const web = yield* sandbox.run({ name: `web-${run}`, labels: { "com.docker.compose.project": "shop" } })
        const db = yield* sandbox.run({ name: `db-${run}`, labels: { "com.docker.compose.project": "shop", tier: "back" } })
        const tool = yield* sandbox.run({ name: `tool-${run}` })
        yield* sandbox.pause(db.id)
        const flags = ["--engine", engine, "--address", sandbox.socketPath]
        const [table, json, byName, byPrefix, missing] = yield* Effect.all([
          whalewatcher([...flags, "ls"]),
          whalewatcher([...flags, "ls", "--json"]),
          whalewatcher([...flags, "inspect", `db-${run}`, "--json"]),
          whalewatcher([...flags, "inspect", web.id.slice(0, 12)]),
          whalewatcher([...flags, "inspect", `nothing-${run}`])
        ], { concurrency: 3 })

        assert.strictEqual(table.exitCode, ExitCode.Ok, table.stderr)
        const lines = table.stdout.split("\n")
        const rowOf = (id: string) => lines.find((line) => line.includes(id)) ?? ""
        assert.strictEqual(lines[0], "PROJECT shop")
        assert.isBelow(lines.indexOf("NO PROJECT"), lines.indexOf(rowOf(tool.id)))
        assert.isAbove(lines.indexOf("NO PROJECT"), lines.indexOf(rowOf(web.id)))
        assert.match(rowOf(db.id), new RegExp(`^  ${db.id}  db-${run}\\s+${db.pid}  paused$`))
        assert.match(rowOf(web.id), new RegExp(`^  ${web.id}  web-${run}\\s+${web.pid}  running$`))

        assert.strictEqual(json.exitCode, ExitCode.Ok, json.stderr)
        const listed = JSON.parse(json.stdout) as Array<Record<string, unknown>>
        const ours = listed.filter((entry) => [web.id, db.id, tool.id].includes(String(entry["id"])))
        assert.deepStrictEqual(ours, [
          { id: web.id, name: `web-${run}`, project: "shop", pid: web.pid, paused: false, labels: { "com.docker.compose.project": "shop" } },
          { id: db.id, name: `db-${run}`, project: "shop", pid: db.pid, paused: true, labels: { "com.docker.compose.project": "shop", tier: "back" } },
          { id: tool.id, name: `tool-${run}`, project: "", pid: tool.pid, paused: false, labels: {} }
        ].sort(byId))

        assert.strictEqual(byName.exitCode, ExitCode.Ok, byName.stderr)
        const expected = (yield* sandbox.inspect(db.id)) as Inspected
        assert.deepStrictEqual(JSON.parse(byName.stdout), {
          id: expected.Id,
          name: expected.Name.slice(1),
          project: "shop",
          namespace: "",
          pid: expected.State.Pid,
          paused: expected.State.Paused,
          labels: { "com.docker.compose.project": "shop", tier: "back" }
        })
        assert.strictEqual(byPrefix.exitCode, ExitCode.Ok, byPrefix.stderr)
        assert.include(byPrefix.stdout, web.id)
        assert.include(byPrefix.stdout, `web-${run}`)
        assert.strictEqual(missing.exitCode, ExitCode.NotFound, missing.stderr)
        assert.include(missing.stderr, `no container named or with ID "nothing-${run}"`)
        yield* Effect.forEach([web, db, tool], ({ id }) => sandbox.remove(id), { concurrency: 3, discard: true })
      }))

    it.effect(`events --json through ${variable}: started, paused, unpaused, exited; exit 0 on SIGTERM`, () =>
      Effect.gen(function*() {
        const sandbox = yield* service
        const name = `job-${run}`
        let id = ""
        const result = yield* whalewatcher(["--engine", engine, "events", "--json"], {
          env: { [variable]: `unix://${sandbox.socketPath}` },
          onReady: () =>
            Effect.runPromise(Effect.gen(function*() {
              id = (yield* sandbox.run({ name, labels: { "com.docker.compose.project": "batch" } })).id
              yield* sandbox.pause(id)
              yield* sandbox.unpause(id)
              yield* sandbox.kill(id)
            })),
          until: (stdout) => stdout.includes("\"exited\"")
        })
        assert.strictEqual(result.exitCode, ExitCode.Ok, result.stderr)
        assert.match(result.stderr, /^whalewatcher: following events of (Docker|Podman) at \S+ \(\d+ containers? alive\); Ctrl-C ends\n$/)
        const lines = jsonLines(result.stdout).filter((line) => line["id"] === id)
        assert.deepStrictEqual(lines.map((line) => [line["type"], line["name"], line["project"]]), [
          ["started", name, "batch"],
          ["paused", name, "batch"],
          ["unpaused", name, "batch"],
          ["exited", name, "batch"]
        ])
        for (const line of lines) assert.match(String(line["timestamp"]), /^\d{4}-\d\d-\d\dT/)
        yield* sandbox.remove(id)
      }))

    it.effect("watch --json: ready with the alive containers, then a start and a pause; exit 0 on SIGTERM", () =>
      Effect.gen(function*() {
        const sandbox = yield* service
        const old = yield* sandbox.run({ name: `old-${run}` })
        const alive = (yield* sandbox.docker(["ps", "--quiet"])).split("\n").filter((line) => line !== "").length
        let started = { id: "", pid: 0 }
        let output = ""
        const result = yield* whalewatcher(["--engine", engine, "--address", sandbox.socketPath, "watch", "--json"], {
          readyOn: "stdout",
          onReady: () =>
            Effect.runPromise(Effect.gen(function*() {
              started = yield* sandbox.run({ name: `new-${run}`, labels: { "com.docker.compose.project": "lab" } })
              // Paused only once the start is announced: a pause before the start is looked up
              // would be announced as a start of a paused container, and no pause after it.
              yield* eventually(() => output.includes("\"type\":\"started\""), "the start announced")
              yield* sandbox.pause(started.id)
            }).pipe(Effect.timeout("15 seconds"))),
          until: (stdout) => (output = stdout).includes("\"type\":\"paused\"")
        })
        assert.strictEqual(result.exitCode, ExitCode.Ok, `${result.stderr}\n${result.stdout}`)
        assert.strictEqual(result.stderr, "")
        const name = `new-${run}`
        assert.deepStrictEqual(jsonLines(result.stdout), [
          { type: "ready", containers: alive },
          { type: "started", id: started.id, name, project: "lab", pid: started.pid, paused: false },
          { type: "paused", id: started.id, name, project: "lab", pid: started.pid, paused: true }
        ])
        yield* Effect.all([sandbox.remove(old.id), sandbox.remove(started.id)], { concurrency: "unbounded" })
      }))
  })

suite("whalewatcher --engine docker on a real dockerd", DockerSandbox.layer(), DockerSandbox.DockerSandbox, "docker", "DOCKER_HOST")
suite("whalewatcher --engine podman on a real podman", PodmanSandbox.layer(), PodmanSandbox.PodmanSandbox, "podman", "CONTAINER_HOST")
