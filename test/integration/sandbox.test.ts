import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Schema, Scope } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import {
  ContainerdSandbox,
  type ContainerdSandboxShape,
  SandboxError
} from "../../src/testing/ContainerdSandbox.ts"
import { byId } from "../../src/internal/ordering.ts"
import { isProcessRunning, processesMentioning, readCommandLine } from "../../src/internal/procfs.ts"
import { leftoversOf } from "./leftovers.ts"

// Namespace names unique to this run: the cgroup and runc directories named after them are shared
// by every containerd on the machine, so the leak checks below must not see anyone else's.
const runId = Math.random().toString(36).slice(2, 8)
const uniqueNamespace = (purpose: string): string => `wws-${runId}-${purpose}`

const ContainerInfo = Schema.fromJsonString(
  Schema.Struct({ Labels: Schema.NullOr(Schema.Record(Schema.String, Schema.String)) })
)

const labelsOf = (sandbox: ContainerdSandboxShape, namespace: string, id: string) =>
  sandbox.ctr(["containers", "info", id], namespace).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(ContainerInfo)),
    Effect.map((info) => info.Labels ?? {})
  )

const exists = (path: string): Promise<boolean> =>
  fs.access(path).then(() => true, () => false)

/** A sandbox's traces besides its directory: the cgroups and runc state named after its namespaces. */
const tracesOf = (namespaces: ReadonlyArray<string>, pids: ReadonlyArray<number> = []) => ({
  cgroups: namespaces,
  paths: namespaces.map((namespace) => nodePath.join("/run/containerd/runc", namespace)),
  pids
})

const isAlive = (pid: number) => Effect.promise(() => isProcessRunning(pid))

/** Builds a sandbox in a scope the test closes itself (closed anyway if the test fails early). */
const openSandbox = Effect.gen(function*() {
  const scope = yield* Scope.make()
  yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
  const context = yield* Layer.buildWithScope(ContainerdSandbox.layer(), scope)
  return { scope, sandbox: Context.get(context, ContainerdSandbox) }
})

/** A bit of everything: running, paused, exec'd into, and task-less containers. */
const populate = (sandbox: ContainerdSandboxShape, namespace: string) =>
  Effect.gen(function*() {
    const running = yield* sandbox.run({ id: "running", namespace, labels: { "nerdctl/name": "running" } })
    const paused = yield* sandbox.run({ id: "paused", namespace })
    yield* sandbox.pause(namespace, "paused")
    yield* sandbox.exec({ namespace, id: "running", command: ["/bin/true"] })
    yield* sandbox.create({ id: "idle", namespace })
    return [running, paused]
  })

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("ContainerdSandbox", (it) => {
  const shop = uniqueNamespace("shop")
  const moby = uniqueNamespace("moby")

  it.effect("runs labelled containers in two namespaces", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      const webPid = yield* sandbox.run({
        id: "web",
        namespace: shop,
        labels: { "nerdctl/name": "web", "com.docker.compose.project": "shop" }
      })
      const dbPid = yield* sandbox.run({ id: "db", namespace: moby, labels: { "com.docker.compose.service": "db" } })

      assert.deepStrictEqual(yield* sandbox.tasks(shop), [{ id: "web", pid: webPid, status: "RUNNING" }])
      assert.deepStrictEqual(yield* sandbox.tasks(moby), [{ id: "db", pid: dbPid, status: "RUNNING" }])
      assert.includeMembers([...(yield* sandbox.namespaces())], [shop, moby])
      assert.deepStrictEqual(yield* labelsOf(sandbox, shop, "web"), {
        "nerdctl/name": "web",
        "com.docker.compose.project": "shop"
      })
      // The pid is the host's view of the container's init process: busybox sleep.
      const commandLine = yield* Effect.promise(() => readCommandLine(webPid))
      assert.deepStrictEqual(commandLine.slice(0, 2), ["/bin/sleep", "100000"])
    }))

  it.effect("pauses and resumes a task", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      const pid = yield* sandbox.run({ id: "pausable", namespace: shop })
      yield* sandbox.pause(shop, "pausable")
      const paused = (yield* sandbox.tasks(shop)).find((task) => task.id === "pausable")
      assert.deepStrictEqual(paused, { id: "pausable", pid, status: "PAUSED" })
      yield* sandbox.resume(shop, "pausable")
      const resumed = (yield* sandbox.tasks(shop)).find((task) => task.id === "pausable")
      assert.deepStrictEqual(resumed, { id: "pausable", pid, status: "RUNNING" })
    }))

  it.effect("returns the exit code of an exec'd process", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      yield* sandbox.run({ id: "shell", namespace: shop })
      assert.strictEqual(
        yield* sandbox.exec({ namespace: shop, id: "shell", execId: "x1", command: ["/bin/sh", "-c", "exit 3"] }),
        3
      )
      assert.strictEqual(yield* sandbox.exec({ namespace: shop, id: "shell", command: ["/bin/true"] }), 0)

      // Not running the process at all is an error, not an exit code.
      yield* sandbox.pause(shop, "shell")
      const refused = yield* Effect.flip(sandbox.exec({ namespace: shop, id: "shell", command: ["/bin/true"] }))
      assert.instanceOf(refused, SandboxError)
      assert.strictEqual(refused.operation, "exec")
      assert.include(refused.stderr ?? "", "paused")
      yield* sandbox.resume(shop, "shell")
    }))

  it.effect("creates a container without a task and labels it later", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      yield* sandbox.create({ id: "created", namespace: moby, labels: { stage: "one" } })
      assert.include([...(yield* sandbox.containers(moby))], "created")
      assert.isUndefined((yield* sandbox.tasks(moby)).find((task) => task.id === "created"))

      yield* sandbox.label(moby, "created", { stage: "two", owner: "test" })
      assert.deepStrictEqual(yield* labelsOf(sandbox, moby, "created"), { stage: "two", owner: "test" })
    }))

  it.effect("kills and removes containers", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      const pid = yield* sandbox.run({ id: "doomed", namespace: moby })
      yield* sandbox.kill(moby, "doomed")
      assert.deepStrictEqual((yield* sandbox.tasks(moby)).find((task) => task.id === "doomed"), {
        id: "doomed",
        pid,
        status: "STOPPED"
      })
      assert.isFalse(yield* isAlive(pid))

      yield* sandbox.run({ id: "removed", namespace: moby })
      yield* sandbox.create({ id: "taskless", namespace: moby })
      yield* Effect.forEach(["removed", "doomed", "taskless"], (id) => sandbox.remove(moby, id), {
        concurrency: "unbounded"
      })
      const containers = yield* sandbox.containers(moby)
      for (const id of ["removed", "doomed", "taskless"]) assert.notInclude([...containers], id)
      assert.isUndefined((yield* sandbox.tasks(moby)).find((task) => task.id === "removed"))
    }))

  it.effect("runs containers concurrently", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      const namespace = uniqueNamespace("many")
      const ids = Array.from({ length: 6 }, (_, index) => `worker-${index}`)
      const pids = yield* Effect.forEach(ids, (id) => sandbox.run({ id, namespace }), { concurrency: "unbounded" })
      assert.strictEqual(new Set(pids).size, ids.length)
      const tasks = yield* sandbox.tasks(namespace)
      assert.deepStrictEqual(
        [...tasks].sort(byId),
        ids.map((id, index) => ({ id, pid: pids[index]!, status: "RUNNING" as const }))
      )
    }))

  it.effect("kills its ctr process when a waiting call is interrupted", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      yield* sandbox.run({ id: "patient", namespace: shop })
      const outcome = yield* sandbox.exec({ namespace: shop, id: "patient", command: ["/bin/sleep", "1000"] }).pipe(
        Effect.timeoutOption("300 millis")
      )
      assert.isTrue(Option.isNone(outcome))
      const ctrProcesses = (yield* Effect.promise(() => processesMentioning(sandbox.socketPath)))
        .map((info) => info.commandLine.join(" "))
        .filter((commandLine) => commandLine.includes("ctr"))
      assert.deepStrictEqual(ctrProcesses, [])
      yield* sandbox.remove(shop, "patient")
    }))

  it.effect("keeps the containers across a containerd restart", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox
      yield* sandbox.run({ id: "survivor", namespace: shop })
      yield* sandbox.run({ id: "sleeper", namespace: shop })
      yield* sandbox.pause(shop, "sleeper")
      const before = yield* sandbox.tasks(shop)

      yield* sandbox.stop
      // A graceful shutdown removes the socket; the containers keep running without containerd.
      assert.isFalse(yield* Effect.promise(() => exists(sandbox.socketPath)))
      for (const task of before) assert.isTrue(yield* isAlive(task.pid))

      yield* sandbox.start
      assert.deepStrictEqual(yield* sandbox.tasks(shop), before)
    }))
})

describe("ContainerdSandbox teardown", () => {
  it.live("leaves no process, mount, cgroup or directory behind", () =>
    Effect.gen(function*() {
      const { sandbox, scope } = yield* openSandbox
      const namespace = uniqueNamespace("leak")
      const pids = yield* populate(sandbox, namespace)
      assert.isNotEmpty(yield* leftoversOf(sandbox.directory, tracesOf([namespace])))

      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, tracesOf([namespace], pids)), [])
    }))

  it.live("tears down after the test stopped containerd", () =>
    Effect.gen(function*() {
      const { sandbox, scope } = yield* openSandbox
      const namespace = uniqueNamespace("stopped")
      const pids = yield* populate(sandbox, namespace)
      yield* sandbox.stop

      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, tracesOf([namespace], pids)), [])
    }))

  it.live("tears down after containerd was killed", () =>
    Effect.gen(function*() {
      const { sandbox, scope } = yield* openSandbox
      const namespace = uniqueNamespace("killed")
      const pids = yield* populate(sandbox, namespace)
      yield* sandbox.kill9

      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, tracesOf([namespace], pids)), [])
    }))

  it.live("tears down by force when containerd cannot be brought back", () =>
    Effect.gen(function*() {
      const { sandbox, scope } = yield* openSandbox
      const namespace = uniqueNamespace("forced")
      const pids = yield* populate(sandbox, namespace)
      yield* sandbox.kill9
      // Without its config containerd cannot restart: the shims and their containers must be killed
      // by pid and what containerd would have cleaned up must be removed by hand.
      yield* Effect.promise(() => fs.rm(nodePath.join(sandbox.directory, "config.toml")))

      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* leftoversOf(sandbox.directory, tracesOf([namespace], pids)), [])
      for (const id of ["running", "paused"]) {
        const shimSocket = createHash("sha256").update(nodePath.join(sandbox.socketPath, namespace, id)).digest("hex")
        assert.isFalse(yield* Effect.promise(() => exists(nodePath.join("/run/containerd/s", shimSocket))))
      }
    }))

  it.live("tears down when the program using it fails", () =>
    Effect.gen(function*() {
      const namespace = uniqueNamespace("failed")
      let directory = ""
      const exit = yield* Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox
        directory = sandbox.directory
        yield* populate(sandbox, namespace)
        return yield* Effect.fail("the test failed")
      }).pipe(Effect.provide(ContainerdSandbox.layer()), Effect.exit)

      assert.isTrue(Exit.isFailure(exit))
      assert.notStrictEqual(directory, "")
      assert.deepStrictEqual(yield* leftoversOf(directory, tracesOf([namespace])), [])
    }))

  it.live("sweeps a sandbox whose owner died", () =>
    Effect.gen(function*() {
      const crashed = yield* openSandbox
      const namespace = uniqueNamespace("crashed")
      const pids = yield* populate(crashed.sandbox, namespace)
      // As if the process owning it had died: a pid that does not exist.
      yield* Effect.promise(() => fs.writeFile(nodePath.join(crashed.sandbox.directory, "owner.pid"), "999999999 0"))

      const next = yield* openSandbox
      assert.deepStrictEqual(yield* leftoversOf(crashed.sandbox.directory, tracesOf([namespace], pids)), [])
      assert.isTrue(yield* Effect.promise(() => exists(next.sandbox.directory)))

      // The swept sandbox's own finalizer finds nothing left to do, and does not fail on that.
      yield* Scope.close(crashed.scope, Exit.void)
      yield* Scope.close(next.scope, Exit.void)
      assert.deepStrictEqual(yield* leftoversOf(next.sandbox.directory), [])
    }))
})
