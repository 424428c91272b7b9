/**
 * A stalled shim on a REAL containerd: while a shim is stopped (SIGSTOP) containerd reports its
 * task UNKNOWN with PID 0. The Watcher must not take it for dead, and must converge once the shim
 * answers again. (containerd 1.6 restarted while a shim is stopped forgets that shim's task for
 * good: Tasks.List never shows it again, so no client can see it; not tested here.)
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { ContainerdEngine } from "../../src/containerd/index.ts"
import { Portfolio, Watcher } from "../../src/index.ts"
import { scanProcesses } from "../../src/internal/procfs.ts"
import { ContainerdSandbox } from "../../src/testing/index.ts"

const run = Math.random().toString(36).slice(2, 8)

/** The PID of the shim serving container `id` in `namespace` for `socket`, from /proc. */
const shimPid = (socket: string, namespace: string, id: string) =>
  Effect.promise(async () => {
    for (const { commandLine, pid } of await scanProcesses()) {
      if (!(commandLine[0] ?? "").includes("containerd-shim")) continue
      const flag = (name: string) => commandLine[commandLine.indexOf(name) + 1]
      if (flag("-address") === socket && flag("-namespace") === namespace && flag("-id") === id) return pid
    }
    return assert.fail(`no shim for ${namespace}/${id}`)
  })

/** Stops the shims until the scope closes (or `resume` runs): they are always continued. */
const stallShims = (pids: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const resume = Effect.sync(() => {
      for (const pid of pids) process.kill(pid, "SIGCONT")
    })
    yield* Effect.acquireRelease(Effect.sync(() => {
      for (const pid of pids) process.kill(pid, "SIGSTOP")
    }), () => resume)
    return resume
  })

const watcherIn = (address: string) =>
  Effect.map(
    Layer.build(
      Watcher.layer({ recheckUndetermined: "500 millis" }).pipe(Layer.provide(ContainerdEngine.layerConfig({ address })))
    ),
    (context) => Context.get(context, Watcher.Watcher)
  )

/** Waits until the portfolio holds these containers with these PIDs and pause states. */
const holds = (watcher: Watcher.WatcherShape, expected: ReadonlyArray<readonly [string, number, boolean]>) =>
  watcher.portfolio.changes.pipe(
    Stream.filter((portfolio) =>
      expected.every(([id, pid, paused]) => {
        const container = Portfolio.get(portfolio, id)
        return container?.pid === pid && container.paused === paused
      })
    ),
    Stream.runHead,
    Effect.timeoutOrElse({
      duration: "30 seconds",
      orElse: () =>
        Effect.flatMap(watcher.portfolio.get, (portfolio) =>
          Effect.die(new Error(`never converged: ${JSON.stringify(Portfolio.containers(portfolio).map((c) => [c.id, c.pid, c.paused]))}`)))
    })
  )

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("a stalled shim on a real containerd", (it) => {
  it.effect("a watcher started while shims are stopped shows their containers once they answer", () =>
    Effect.gen(function*() {
      const sandbox = yield* ContainerdSandbox.ContainerdSandbox
      const ns = `fresh-${run}`
      const runningPid = yield* sandbox.run({ id: "running", namespace: ns })
      const pausedPid = yield* sandbox.run({ id: "paused", namespace: ns })
      yield* sandbox.pause(ns, "paused")
      const shims = [yield* shimPid(sandbox.socketPath, ns, "running"), yield* shimPid(sandbox.socketPath, ns, "paused")]
      const resume = yield* stallShims(shims)
      const watcher = yield* watcherIn(sandbox.socketPath)
      yield* watcher.ready
      yield* resume
      yield* holds(watcher, [[`${ns}/running`, runningPid, false], [`${ns}/paused`, pausedPid, true]])
      yield* sandbox.resume(ns, "paused")
    }).pipe(Effect.scoped))
})
