/**
 * Hostile but legal input on a REAL containerd: what a container's creator writes (labels that are
 * not UTF-8, records larger than one gRPC message), what any client of the socket may publish
 * (forged task events), late duplicate starts, and sockets that are not containerd at all. None
 * of it may blind the engine client or leave the Watcher's portfolio wrong.
 */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf"
import { TaskExitSchema, TaskPausedSchema, TaskStartSchema } from "../../gen/containerd/events/task_pb.ts"
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { ContainerdConnection, ContainerdEngine } from "../../src/containerd/index.ts"
import { EngineClient, Portfolio, Watcher } from "../../src/index.ts"
import { ContainerdSandbox } from "../../src/testing/index.ts"
import { runProcess } from "../../src/testing/internal/process.ts"
import { untilPortfolio } from "./converge.ts"

const run = Math.random().toString(36).slice(2, 8)
const uid = (name: string) => `${name}-${run}`

type Sandbox = ContainerdSandbox.ContainerdSandboxShape

const engineIn = (address: string, options: Parameters<typeof ContainerdEngine.layerConfig>[0] = {}) =>
  Effect.map(
    Layer.build(ContainerdEngine.layerConfig({ ...options, address })),
    (context) => Context.get(context, EngineClient.EngineClient) as ContainerdEngine.ContainerdEngineShape
  )

const watcherIn = (address: string, options: Parameters<typeof ContainerdEngine.layerConfig>[0] = {}) =>
  Effect.map(
    Layer.build(Watcher.layer().pipe(Layer.provide(ContainerdEngine.layerConfig({ ...options, address })))),
    (context) => Context.get(context, Watcher.Watcher)
  )

/**
 * Runs a shell script with `$SOCK` set to the sandbox's socket: node's child_process passes
 * arguments as UTF-8, so raw bytes (e.g. 0xff in a label) are made by `printf` in the shell.
 */
const shell = (sandbox: Sandbox, script: string) =>
  runProcess("shell", "sh", ["-c", script], { env: { SOCK: sandbox.socketPath } }).pipe(
    Effect.flatMap((result) =>
      result.exitCode === 0
        ? Effect.succeed(result.stdout)
        : Effect.fail(new Error(`${script}: exit ${result.exitCode}\n${result.stderr}`))
    )
  )

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("hostile input on a real containerd", (it) => {
  describe("labels that are not UTF-8", () => {
    it.effect("list, inspect, the Watcher's sync and a relabel event all decode them with U+FFFD", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const namespace = "h-utf8"
        const [alive, created] = [uid("bad-alive"), uid("bad-created")]
        const pid = yield* sandbox.run({ id: alive, namespace, labels: { "nerdctl/name": "bad" } })
        yield* sandbox.create({ id: created, namespace })
        // Only created, never started: it alone used to fail the whole namespace's list.
        yield* shell(sandbox, `ctr --address "$SOCK" -n ${namespace} containers label ${created} "k=$(printf 'x\\377')"`)
        yield* shell(sandbox, `ctr --address "$SOCK" -n ${namespace} containers label ${alive} "v=$(printf '\\377\\376')"`)

        const engine = yield* engineIn(sandbox.socketPath, { onlyNamespaces: [namespace] })
        const listed = yield* engine.list
        assert.deepStrictEqual(listed.map((c) => [c.id, c.pid, c.labels["v"]]), [[`${namespace}/${alive}`, pid, "\uFFFD\uFFFD"]])
        const inspected = yield* engine.inspect(`${namespace}/${alive}`)
        assert.strictEqual(inspected.labels["v"], "\uFFFD\uFFFD")

        const watcher = yield* watcherIn(sandbox.socketPath, { onlyNamespaces: [namespace] })
        yield* watcher.ready
        yield* shell(sandbox, `ctr --address "$SOCK" -n ${namespace} containers label ${alive} "$(printf 'w\\300')=1"`)
        yield* untilPortfolio(watcher, (p) => Portfolio.get(p, `${namespace}/${alive}`)?.labels["w\uFFFD"] === "1", "relabel seen")
        assert.isAtLeast(yield* engine.replacedTexts, 2)
      }).pipe(Effect.scoped), 60_000)
  })

  describe("records larger than one message", () => {
    it.effect("a namespace whose records add up to more than 16 MiB is listed and synced", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const namespace = "h-large"
        const ids = Array.from({ length: 12 }, (_, index) => uid(`large${index}`))
        // 380 labels of ~4 KiB (containerd's limit per label) each: ~1.5 MB per record, ~18 MB in all.
        const labels = `$(for i in $(seq 1 380); do printf "k%03d=%04000d " $i 0; done)`
        for (const id of ids) {
          yield* sandbox.run({ id, namespace })
          yield* shell(sandbox, `ctr --address "$SOCK" -n ${namespace} containers label ${id} ${labels} >/dev/null`)
        }
        const engine = yield* engineIn(sandbox.socketPath, { onlyNamespaces: [namespace] })
        const listed = yield* engine.list
        assert.deepStrictEqual(listed.map((c) => c.id).sort(), ids.map((id) => `${namespace}/${id}`).sort())
        for (const container of listed) assert.strictEqual(Object.keys(container.labels).length, 380)
        const watcher = yield* watcherIn(sandbox.socketPath, { onlyNamespaces: [namespace] })
        yield* watcher.ready
        assert.strictEqual(Portfolio.size(yield* watcher.portfolio.get), ids.length)
      }).pipe(Effect.scoped), 120_000)
  })

  describe("forged and late task events (Events.Publish by any client)", () => {
    it.effect("a forged exit and pause of a live container, a start with a bogus PID and a late start copy leave the portfolio right", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const namespace = "h-forged"
        const [live, dead] = [uid("live"), uid("dead")]
        const pid = yield* sandbox.run({ id: live, namespace })
        const deadPid = yield* sandbox.run({ id: dead, namespace })
        const watcher = yield* watcherIn(sandbox.socketPath, { onlyNamespaces: [namespace] })
        yield* watcher.ready
        yield* sandbox.kill(namespace, dead)
        yield* untilPortfolio(watcher, (p) => !Portfolio.has(p, `${namespace}/${dead}`), "real exit seen")

        const connection = yield* Effect.map(
          Layer.build(ContainerdConnection.layer({ address: sandbox.socketPath })),
          (context) => Context.get(context, ContainerdConnection.ContainerdConnection)
        )
        const publish = <Desc extends DescMessage>(topic: string, schema: Desc, value: MessageInitShape<Desc>) =>
          connection.call("Events.Publish", (c, o) =>
            c.events.publish({ topic, event: { typeUrl: schema.typeName, value: toBinary(schema, create(schema, value)) } }, o), {
            namespace
          })
        yield* publish("/tasks/exit", TaskExitSchema, { containerId: live, id: live, pid, exitStatus: 137 })
        yield* publish("/tasks/paused", TaskPausedSchema, { containerId: live })
        yield* publish("/tasks/start", TaskStartSchema, { containerId: live, pid: 4242 })
        // a late copy of the dead instance's start
        yield* publish("/tasks/start", TaskStartSchema, { containerId: dead, pid: deadPid })
        // a real change after them: once it shows, the forged events have been handled
        const marker = uid("marker")
        yield* sandbox.run({ id: marker, namespace })
        yield* untilPortfolio(watcher, (p) => Portfolio.has(p, `${namespace}/${marker}`), "marker seen")
        const portfolio = yield* watcher.portfolio.get
        const container = Portfolio.get(portfolio, `${namespace}/${live}`)
        assert.deepStrictEqual([container?.pid, container?.paused], [pid, false])
        assert.isFalse(Portfolio.has(portfolio, `${namespace}/${dead}`))
      }).pipe(Effect.scoped), 60_000)
  })
})
