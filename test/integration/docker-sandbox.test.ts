/**
 * DockerSandbox and PodmanSandbox tear down completely: no process, mount, cgroup or directory is
 * left, also after the daemon was killed or when the program using the sandbox failed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as nodePath from "node:path"
import { DockerSandbox, PodmanSandbox } from "../../src/testing/index.ts"
import { leftoversOf } from "./leftovers.ts"

/** The cgroup parent a sandbox's containers run under is named after its directory. */
const tracesOf = (directory: string, pids: ReadonlyArray<number>) => ({ cgroups: [nodePath.basename(directory)], pids })

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
        assert.isNotEmpty(yield* leftoversOf(sandbox.directory, tracesOf(sandbox.directory, pids)))
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, tracesOf(sandbox.directory, pids)), [])
      }), 120_000)

    it.live("tears down after the daemon was killed", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sandbox = Context.get(yield* Layer.buildWithScope(sandboxLayer, scope), service)
        const pids = yield* populate(sandbox)
        yield* sandbox.kill9
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, tracesOf(sandbox.directory, pids)), [])
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
        assert.deepStrictEqual(yield* leftoversOf(directory, tracesOf(directory, pids)), [])
      }), 120_000)
  })
}
