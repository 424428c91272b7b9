/**
 * DockerSandbox and PodmanSandbox tear down completely: no process, mount, cgroup or directory is
 * left, also after the daemon was killed or when the program using the sandbox failed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { DockerSandbox, PodmanSandbox } from "../../src/testing/index.ts"

const exists = (path: string): Promise<boolean> => fs.access(path).then(() => true, () => false)

/** Everything a sandbox could leave on the host, described; empty when it left nothing. */
const leftoversOf = (directory: string, pids: ReadonlyArray<number>) =>
  Effect.promise(async () => {
    const found: Array<string> = []
    if (await exists(directory)) found.push(`directory ${directory}`)
    for (const entry of await fs.readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      const commandLine = await fs.readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")
      if (commandLine.includes(directory)) found.push(`process ${entry}: ${commandLine.replaceAll("\0", " ")}`)
    }
    for (const pid of pids) {
      const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined)
      const state = stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
      if (state !== undefined && state !== "Z" && state !== "X") found.push(`container process ${pid}`)
    }
    for (const line of (await fs.readFile("/proc/self/mounts", "utf8")).split("\n")) {
      const mountPoint = line.split(" ")[1]
      if (mountPoint?.startsWith(directory)) found.push(`mount ${mountPoint}`)
    }
    const cgroupParent = nodePath.basename(directory)
    for (const hierarchy of ["", ...(await fs.readdir("/sys/fs/cgroup"))]) {
      const cgroup = nodePath.join("/sys/fs/cgroup", hierarchy, cgroupParent)
      if (await exists(cgroup)) found.push(`cgroup ${cgroup}`)
    }
    return found
  })

type AnySandbox = DockerSandbox.EngineSandboxOperations & {
  readonly directory: string
  readonly kill9: Effect.Effect<void, DockerSandbox.SandboxError>
}

const cases: ReadonlyArray<readonly [string, Layer.Layer<any, DockerSandbox.SandboxError>, Context.Key<any, AnySandbox>]> = [
  ["DockerSandbox", DockerSandbox.layer(), DockerSandbox.DockerSandbox],
  ["PodmanSandbox", PodmanSandbox.layer(), PodmanSandbox.PodmanSandbox]
]

/** Running, paused and exec'd-into containers; their PIDs. */
const populate = (sandbox: AnySandbox) =>
  Effect.gen(function*() {
    const running = yield* sandbox.run({ name: "running" })
    const paused = yield* sandbox.run({ name: "paused" })
    yield* sandbox.pause(paused.id)
    assert.strictEqual(yield* sandbox.exec(running.id, ["/bin/true"]), 0)
    return [running.pid, paused.pid]
  })

for (const [name, sandboxLayer, service] of cases) {
  describe(`${name} teardown`, () => {
    it.live("leaves no process, mount, cgroup or directory behind", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sandbox = Context.get(yield* Layer.buildWithScope(sandboxLayer, scope), service)
        const pids = yield* populate(sandbox)
        assert.isNotEmpty(yield* leftoversOf(sandbox.directory, pids))
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, pids), [])
      }), 120_000)

    it.live("tears down after the daemon was killed", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sandbox = Context.get(yield* Layer.buildWithScope(sandboxLayer, scope), service)
        const pids = yield* populate(sandbox)
        yield* sandbox.kill9
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, pids), [])
      }), 120_000)

    it.live("tears down when the program using it fails", () =>
      Effect.gen(function*() {
        let directory = ""
        let pids: ReadonlyArray<number> = []
        const exit = yield* Effect.gen(function*() {
          const sandbox = yield* service
          directory = sandbox.directory
          pids = yield* populate(sandbox)
          return yield* Effect.fail("the test failed")
        }).pipe(Effect.provide(sandboxLayer), Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        assert.notStrictEqual(directory, "")
        assert.deepStrictEqual(yield* leftoversOf(directory, pids), [])
      }), 120_000)
  })
}
