/**
 * The Watcher on a REAL containerd: no container lost while it starts up, exec exits never remove
 * a container, a restart of containerd with changes meanwhile converges to the truth announcing
 * exactly the difference, a slow subscriber delays nobody, and its scope closes everything.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Queue, Schedule, Stream } from "effect"
import { ContainerdEngine, NamespaceFilter } from "../../src/containerd/index.ts"
import { Portfolio, Watcher } from "../../src/index.ts"
import { ContainerdSandbox } from "../../src/testing/index.ts"
import { awaitConnections, openConnections, settledConnections } from "./connections.ts"
import { eventually } from "../eventually.ts"
import { converge, picture } from "./converge.ts"

const run = Math.random().toString(36).slice(2, 8)

type Sandbox = ContainerdSandbox.ContainerdSandboxShape

/** The alive containers by display ID and PID, as `ctr tasks ls` tells in every watched namespace. */
const truth = (sandbox: Sandbox) =>
  Effect.gen(function*() {
    const alive = new Map<string, number>()
    for (const namespace of yield* sandbox.namespaces()) {
      if (NamespaceFilter.DefaultIgnoredNamespaces.includes(namespace)) continue
      for (const task of yield* sandbox.tasks(namespace)) {
        if (task.status === "RUNNING" || task.status === "PAUSED" || task.status === "PAUSING") {
          alive.set(namespace === "default" ? task.id : `${namespace}/${task.id}`, task.pid)
        }
      }
    }
    return alive
  })

const watcherIn = (address: string, options: Watcher.WatcherOptions = {}) =>
  Effect.map(
    Layer.build(Watcher.layer(options).pipe(Layer.provide(ContainerdEngine.layerConfig({ address })))),
    (context) => Context.get(context, Watcher.Watcher)
  )

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("Watcher on a real containerd", (it) => {
  describe("sync", () => {
    it.effect("containers started while the watcher starts up are never lost", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        yield* sandbox.run({ id: `before-${run}`, namespace: "boot" })
        // Start containers continuously while the watcher subscribes and lists.
        const churn = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, n) => n),
          (n) => sandbox.run({ id: `boot${n}-${run}`, namespace: `boot-${n % 3}` }),
          { concurrency: 3, discard: true }
        ).pipe(Effect.forkChild)
        const watcher = yield* watcherIn(sandbox.socketPath)
        yield* watcher.ready
        yield* Fiber.join(churn)
        const converged = yield* converge(truth(sandbox), watcher)
        assert.isAtLeast([...converged.keys()].filter((id) => id.startsWith("boot")).length, 13)
      }).pipe(Effect.scoped))

    it.effect("exec exits never remove a container", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const id = `exec-${run}`
        yield* sandbox.run({ id, namespace: "execs" })
        const watcher = yield* watcherIn(sandbox.socketPath)
        yield* watcher.ready
        const events = yield* Queue.unbounded<Watcher.WatcherEvent>()
        yield* watcher.events.pipe(Stream.runForEach((event) => Queue.offer(events, event)), Effect.forkScoped)
        for (let n = 0; n < 3; n++) {
          assert.strictEqual(yield* sandbox.exec({ namespace: "execs", id, execId: `x${n}`, command: ["/bin/sh", "-c", `exit ${n + 1}`] }), n + 1)
        }
        // a marker change after the execs: once it arrives, any exec exit would have arrived too
        yield* sandbox.pause("execs", id)
        const seen = yield* Queue.take(events).pipe(Effect.timeout("10 seconds"))
        assert.deepStrictEqual([seen._tag, seen.container.id], ["Paused", `execs/${id}`])
        assert.isTrue(Option.isSome(Option.fromNullishOr(Portfolio.get(yield* watcher.portfolio.get, `execs/${id}`))))
        yield* sandbox.resume("execs", id)
      }).pipe(Effect.scoped))
  })

  describe("restart", () => {
    it.effect("containerd stopped during churn, changed while the watcher is away: converges, announcing exactly the difference", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const ns = "restart"
        const keep = `keep-${run}`
        const killedWhileDown = `down-${run}`
        const killedAfter = `gone-${run}`
        const pausedAfter = `paused-${run}`
        yield* Effect.forEach([keep, killedWhileDown, killedAfter, pausedAfter], (id) => sandbox.run({ id, namespace: ns }), {
          discard: true
        })
        // Retry slowly, so that the changes below happen while the watcher is disconnected.
        const watcher = yield* watcherIn(sandbox.socketPath, { retry: Schedule.spaced("2 seconds") })
        yield* watcher.ready
        const announced: Array<string> = []
        yield* watcher.events.pipe(
          Stream.runForEach((event) => Effect.sync(() => announced.push(`${event._tag} ${event.container.id} ${event.container.pid}`))),
          Effect.forkScoped
        )
        // churn right up to the stop
        const churn = yield* Effect.forEach(
          Array.from({ length: 6 }, (_, n) => n),
          (n) => sandbox.run({ id: `churn${n}-${run}`, namespace: ns }),
          { discard: true }
        ).pipe(Effect.forkChild)
        // Stopped once the churn shows: the first start was announced, the others may be under way.
        yield* eventually(() => announced.some((line) => line.startsWith(`Started ${ns}/churn0-${run} `)), "the first churn start")
        yield* sandbox.stop
        yield* Fiber.join(churn).pipe(Effect.ignore)
        // Make-before-break: once the watcher knows it is disconnected, its last picture stays.
        yield* watcher.status.changes.pipe(
          Stream.filter((status) => status._tag === "Retrying"),
          Stream.runHead,
          Effect.timeout("10 seconds")
        )
        const before = picture(yield* watcher.portfolio.get)
        announced.length = 0
        // while containerd is down: a container's process dies
        const downPid = before.get(`${ns}/${killedWhileDown}`)
        assert.isNumber(downPid)
        process.kill(downPid!, "SIGKILL")
        const restarted = Date.now()
        yield* sandbox.start
        // before the watcher is back: one started, one killed, one paused
        const newcomer = `new-${run}`
        const newcomerPid = yield* sandbox.run({ id: newcomer, namespace: ns })
        yield* sandbox.kill(ns, killedAfter)
        yield* sandbox.pause(ns, pausedAfter)
        yield* converge(truth(sandbox), watcher)
        const convergedAfter = Date.now() - restarted
        assert.strictEqual((yield* watcher.status.get)._tag, "Live")

        // exactly the difference between the picture while disconnected and the truth now
        const after = yield* truth(sandbox)
        const instances = (map: ReadonlyMap<string, number>) => new Set([...map].map(([id, pid]) => `${id} ${pid}`))
        const beforeInstances = instances(before)
        const afterInstances = instances(after)
        const expected = [
          ...[...beforeInstances].filter((i) => !afterInstances.has(i)).map((i) => `Exited ${i}`),
          ...[...afterInstances].filter((i) => !beforeInstances.has(i)).map((i) => `Started ${i}`)
        ].sort()
        const lifecycle = announced.filter((line) => line.startsWith("Started") || line.startsWith("Exited")).sort()
        assert.deepStrictEqual(lifecycle, expected)
        assert.include(lifecycle, `Started ${ns}/${newcomer} ${newcomerPid}`)
        assert.include(lifecycle, `Exited ${ns}/${killedWhileDown} ${downPid}`)
        assert.isTrue(lifecycle.some((line) => line.startsWith(`Exited ${ns}/${killedAfter} `)))
        assert.isFalse(lifecycle.some((line) => line.includes(`${ns}/${keep} `)), "an unchanged container is not re-announced")
        assert.isTrue(announced.some((line) => line.startsWith(`Paused ${ns}/${pausedAfter} `)))
        yield* Effect.logInfo(`converged ${convergedAfter} ms after containerd's restart`)
        yield* sandbox.resume(ns, pausedAfter)
      }).pipe(Effect.scoped))
  })

  describe("restart with the default retry schedule", () => {
    it.effect("is back in sync soon after containerd returns (time logged, not asserted)", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const watcher = yield* watcherIn(sandbox.socketPath)
        yield* watcher.ready
        yield* sandbox.stop
        yield* watcher.status.changes.pipe(
          Stream.filter((status) => status._tag === "Retrying"),
          Stream.runHead,
          Effect.timeout("10 seconds")
        )
        const restarted = Date.now()
        yield* sandbox.start
        const id = `back-${run}`
        yield* sandbox.run({ id, namespace: "back" })
        yield* converge(truth(sandbox), watcher)
        yield* Effect.logInfo(`default schedule: converged ${Date.now() - restarted} ms after containerd's restart`)
        assert.strictEqual((yield* watcher.status.get)._tag, "Live")
      }).pipe(Effect.scoped))
  })

  describe("subscribers and scope", () => {
    it.effect("a slow subscriber does not delay another", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const watcher = yield* watcherIn(sandbox.socketPath, { eventCapacity: 4 })
        yield* watcher.ready
        // the slow one takes one event, then stalls for good
        const slowGot = yield* Queue.unbounded<Watcher.WatcherEvent>()
        yield* watcher.events.pipe(
          Stream.runForEach((event) => Effect.andThen(Queue.offer(slowGot, event), Effect.never)),
          Effect.exit,
          Effect.forkScoped
        )
        const fastGot = yield* Queue.unbounded<Watcher.WatcherEvent>()
        yield* watcher.events.pipe(Stream.runForEach((event) => Queue.offer(fastGot, event)), Effect.forkScoped)
        const ids = Array.from({ length: 10 }, (_, n) => `fast${n}-${run}`)
        for (const id of ids) yield* sandbox.run({ id, namespace: "subs" })
        const received: Array<string> = []
        while (received.length < ids.length) {
          const event = yield* Queue.take(fastGot).pipe(Effect.timeout("10 seconds"))
          if (event._tag === "Started") received.push(event.container.id)
        }
        assert.deepStrictEqual(received, ids.map((id) => `subs/${id}`))
        assert.strictEqual(yield* Queue.size(slowGot), 1)
        yield* Effect.forEach(ids, (id) => sandbox.remove("subs", id), { discard: true })
      }).pipe(Effect.scoped))

    it.effect("closing the watcher's scope closes its subscription and session", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const baseline = yield* settledConnections(sandbox.socketPath)
        const ended = yield* Effect.gen(function*() {
          const watcher = yield* watcherIn(sandbox.socketPath)
          yield* watcher.ready
          assert.strictEqual(yield* openConnections(sandbox.socketPath), baseline + 1)
          return yield* watcher.events.pipe(Stream.runDrain, Effect.exit, Effect.forkDetach)
        }).pipe(Effect.scoped)
        yield* Fiber.join(ended).pipe(Effect.timeout("5 seconds"))
        yield* awaitConnections(sandbox.socketPath, baseline)
      }))
  })
})
