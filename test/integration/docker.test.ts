/**
 * The Docker engine client on a REAL dockerd and a REAL podman service (private sandboxes): list and
 * inspect agree with `docker inspect`, lifecycle events arrive, an exec's exit removes nothing,
 * and the Watcher converges through a daemon restart.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { DockerEngine } from "../../src/docker/index.ts"
import { type ContainerEvent, EngineClient, Portfolio, Watcher } from "../../src/index.ts"
import { DockerSandbox, PodmanSandbox } from "../../src/testing/index.ts"
import { eventually } from "../eventually.ts"
import { converge, untilPortfolio } from "./converge.ts"

const run = Math.random().toString(36).slice(2, 8)

type Sandbox = DockerSandbox.EngineSandboxOperations & { readonly socketPath: string }

interface Inspected {
  readonly Id: string
  readonly Name: string
  readonly State: { readonly Pid: number; readonly Running: boolean; readonly Paused: boolean }
  readonly Config: { readonly Labels: Record<string, string> | null }
}

/** The alive containers (running or paused) with their PIDs, as `docker inspect` tells. */
const truth = (sandbox: Sandbox) =>
  Effect.gen(function*() {
    const ids = (yield* sandbox.docker(["ps", "--all", "--quiet", "--no-trunc"])).split("\n").filter((id) => id !== "")
    const alive = new Map<string, number>()
    for (const id of ids) {
      const inspected = (yield* Effect.option(sandbox.inspect(id))) as { _tag: string; value?: Inspected }
      const state = inspected.value?.State
      if (state !== undefined && state.Pid > 0 && (state.Running || state.Paused)) alive.set(id, state.Pid)
    }
    return alive
  })

/** Collects every event of the stream, in a fiber of the scope. */
const collectAll = (events: Stream.Stream<ContainerEvent.ContainerEvent, unknown>) =>
  Effect.gen(function*() {
    const seen: Array<ContainerEvent.ContainerEvent> = []
    yield* events.pipe(Stream.runForEach((event) => Effect.sync(() => seen.push(event))), Effect.forkScoped)
    return seen
  })

/** Waits until `count` events of container `id` were seen; returns them. */
const eventsOf = (seen: ReadonlyArray<ContainerEvent.ContainerEvent>, id: string, count: number) => {
  const ofContainer = () => seen.filter((event) => event.id === id)
  return Effect.map(eventually(() => ofContainer().length >= count, `${count} events of ${id}`, 30_000), ofContainer)
}

const suite = <S extends Sandbox>(
  title: string,
  sandboxLayer: Layer.Layer<never, never, never> | Layer.Layer<any, any, never>,
  service: Context.Key<any, S>,
  flavor: "docker" | "podman"
) =>
  layer(sandboxLayer, { excludeTestServices: true, timeout: "120 seconds" })(title, (it) => {
    const engineFor = (sandbox: Sandbox) =>
      Effect.map(
        Layer.build(DockerEngine.layerConfig({ address: sandbox.socketPath, flavor })),
        (context) => Context.get(context, EngineClient.EngineClient)
      )

    describe("list and inspect", () => {
      it.effect("agree with docker inspect: names, labels, projects, PIDs, paused", () =>
        Effect.gen(function*() {
          const sandbox = yield* service
          const web = yield* sandbox.run({ name: `web-${run}`, labels: { "com.docker.compose.project": "shop", tier: "front" } })
          const db = yield* sandbox.run({ name: `db-${run}` })
          yield* sandbox.pause(db.id)
          const gone = yield* sandbox.run({ name: `gone-${run}` })
          yield* sandbox.kill(gone.id)
          const engine = yield* engineFor(sandbox)
          const listed = new Map((yield* engine.list).map((container) => [container.id, container]))
          assert.isFalse(listed.has(gone.id))
          for (const { id } of [web, db]) {
            const expected = (yield* sandbox.inspect(id)) as Inspected
            const container = listed.get(id)
            assert.isDefined(container, `${id} is listed`)
            assert.deepStrictEqual(container, {
              id: expected.Id,
              name: expected.Name.slice(1),
              labels: expected.Config.Labels ?? {},
              pid: expected.State.Pid,
              project: expected.Config.Labels?.["com.docker.compose.project"] ?? "",
              paused: expected.State.Paused,
              namespace: ""
            })
            assert.deepStrictEqual(yield* engine.inspect(id), container)
            assert.deepStrictEqual(yield* engine.inspect(id.slice(0, 12)), container)
            assert.deepStrictEqual(yield* engine.inspect(expected.Name.slice(1)), container)
          }
          assert.strictEqual(listed.get(web.id)?.project, "shop")
          assert.isTrue(listed.get(db.id)?.paused)
          assert.strictEqual((yield* Effect.flip(engine.inspect(gone.id)))._tag, "ProcesslessContainer")
          assert.strictEqual((yield* Effect.flip(engine.inspect(`nothing-${run}`)))._tag, "ContainerNotFound")
          assert.match(yield* engine.version, /API 1\.\d+/)
          assert.notStrictEqual(yield* engine.id, "")
          for (const { id } of [web, db, gone]) yield* sandbox.remove(id)
        }).pipe(Effect.scoped))
    })

    describe("compose", () => {
      it.effect("containers that docker-compose up started are grouped by their project", () =>
        Effect.gen(function*() {
          const sandbox = yield* service
          const name = `shop${run}`
          const watcher = yield* Effect.map(
            Layer.build(Watcher.layer().pipe(Layer.provide(DockerEngine.layerConfig({ address: sandbox.socketPath, flavor })))),
            (context) => Context.get(context, Watcher.Watcher)
          )
          yield* watcher.ready
          const ids = yield* sandbox.composeUp({
            name,
            services: { web: { labels: { tier: "front" } }, db: { labels: { tier: "back" } } }
          })
          assert.strictEqual(ids.length, 2)
          yield* untilPortfolio(watcher, (portfolio) => Portfolio.projectContainers(portfolio, name).length === 2, "both services")
          const members = Portfolio.projectContainers(yield* watcher.portfolio.get, name)
          assert.deepStrictEqual(members.map((container) => container.id).sort(), [...ids].sort())
          for (const container of members) {
            const expected = (yield* sandbox.inspect(container.id)) as Inspected
            assert.strictEqual(container.name, expected.Name.slice(1))
            assert.strictEqual(container.pid, expected.State.Pid)
            assert.strictEqual(container.labels["com.docker.compose.project"], name)
          }
          assert.deepStrictEqual(members.map((container) => container.labels["tier"]).sort(), ["back", "front"])
          yield* sandbox.composeDown(name)
          yield* untilPortfolio(watcher, (portfolio) => Portfolio.projectContainers(portfolio, name).length === 0, "no service")
        }).pipe(Effect.scoped))
    })

    describe("events", () => {
      it.effect("start, pause, unpause, rename and death; an exec's exit removes nothing", () =>
        Effect.gen(function*() {
          const sandbox = yield* service
          const engine = yield* engineFor(sandbox)
          const events = yield* engine.subscribe
          const seen = yield* collectAll(events)
          const { id } = yield* sandbox.run({ name: `ev-${run}`, labels: { "com.docker.compose.project": "lab" } })
          assert.strictEqual(yield* sandbox.exec(id, ["/bin/sh", "-c", "exit 3"]), 3)
          yield* sandbox.pause(id)
          yield* sandbox.unpause(id)
          yield* sandbox.rename(id, `ev2-${run}`)
          yield* sandbox.kill(id)
          const got = yield* eventsOf(seen, id, 5)
          // The exec's exit came between start and pause: it is no Exited. A rename is completed by
          // an inspect beside the reading, so its Updated may come after the events that follow it.
          const inOrder = got.filter((event) => event._tag !== "Updated")
          assert.deepStrictEqual(inOrder.map((event) => event._tag), ["Started", "Paused", "Unpaused", "Exited"])
          assert.strictEqual(got[0]?.project, "lab")
          assert.strictEqual(got.find((event) => event._tag === "Updated")?.name, `ev2-${run}`)
          const resolved = yield* Effect.exit(engine.resolveStarted(got[0] as ContainerEvent.Started))
          assert.isTrue(resolved._tag === "Failure", "the container is dead by now")
          yield* sandbox.remove(id)
        }).pipe(Effect.scoped))
    })

    describe("slow consumers", () => {
      it.effect("a subscriber that sleeps on every event loses none while containers start", () =>
        Effect.gen(function*() {
          const sandbox = yield* service
          const engine = yield* engineFor(sandbox)
          const events = yield* engine.subscribe
          // A dozen starts stay within what dockerd buffers for a listener: this checks that a
          // slow subscriber gets every start, in order, on both daemons; that an overflow of
          // dockerd's buffer costs no event either is docker-slow-reader.test.ts.
          const names = Array.from({ length: 12 }, (_, n) => `slow${n}-${run}`)
          const seen: Array<string> = []
          // Slower than the 100 ms after which Docker skips a listener.
          yield* events.pipe(
            Stream.filter((event) => event._tag === "Started"),
            Stream.runForEach((event) => Effect.andThen(Effect.sleep("150 millis"), Effect.sync(() => seen.push(event.name ?? "")))),
            Effect.forkScoped
          )
          const started = yield* Effect.forEach(names, (name) => sandbox.run({ name }), { concurrency: 3 })
          yield* eventually(() => names.every((name) => seen.includes(name)), "every start reached the slow subscriber", 60_000)
          yield* Effect.forEach(started, ({ id }) => sandbox.remove(id), { concurrency: 3, discard: true })
        }).pipe(Effect.scoped))
    })

    describe("Watcher", () => {
      it.effect("converges to the truth through a daemon restart with changes meanwhile", () =>
        Effect.gen(function*() {
          const sandbox = yield* service
          const lifecycle = sandbox as unknown as {
            readonly stop: Effect.Effect<void>
            readonly start: Effect.Effect<void> | ((options?: object) => Effect.Effect<void>)
          }
          const keep = yield* sandbox.run({ name: `keep-${run}` })
          const watcher = yield* Effect.map(
            Layer.build(Watcher.layer().pipe(Layer.provide(DockerEngine.layerConfig({ address: sandbox.socketPath, flavor })))),
            (context) => Context.get(context, Watcher.Watcher)
          )
          yield* watcher.ready
          yield* converge(truth(sandbox), watcher)
          yield* lifecycle.stop
          yield* typeof lifecycle.start === "function" ? lifecycle.start() : lifecycle.start
          const added = yield* sandbox.run({ name: `added-${run}` })
          const converged = yield* converge(truth(sandbox), watcher)
          assert.isTrue(converged.has(added.id))
          yield* sandbox.remove(keep.id).pipe(Effect.ignore)
          yield* sandbox.remove(added.id)
          yield* converge(truth(sandbox), watcher)
        }).pipe(Effect.scoped))

      it.effect("converges to the truth through a kill -9 of the daemon", () =>
        Effect.gen(function*() {
          const sandbox = yield* service
          const lifecycle = sandbox as unknown as {
            readonly kill9: Effect.Effect<void>
            readonly start: Effect.Effect<void> | ((options?: object) => Effect.Effect<void>)
          }
          const before = yield* sandbox.run({ name: `crash-${run}` })
          const watcher = yield* Effect.map(
            Layer.build(Watcher.layer().pipe(Layer.provide(DockerEngine.layerConfig({ address: sandbox.socketPath, flavor })))),
            (context) => Context.get(context, Watcher.Watcher)
          )
          yield* watcher.ready
          yield* converge(truth(sandbox), watcher)
          yield* lifecycle.kill9
          yield* typeof lifecycle.start === "function" ? lifecycle.start() : lifecycle.start
          const after = yield* sandbox.run({ name: `recovered-${run}` })
          assert.isTrue((yield* converge(truth(sandbox), watcher)).has(after.id))
          yield* sandbox.remove(before.id).pipe(Effect.ignore)
          yield* sandbox.remove(after.id)
          yield* converge(truth(sandbox), watcher)
        }).pipe(Effect.scoped))
    })
  })

layer(DockerSandbox.layer({ liveRestore: true }), { excludeTestServices: true, timeout: "120 seconds" })(
  "Watcher on a real dockerd with live-restore",
  (it) => {
    it.effect("a socket that is not Docker's (containerd's) and a missing socket are clear errors", () =>
      Effect.gen(function*() {
        const sandbox = yield* DockerSandbox.DockerSandbox
        const listOn = (address: string) =>
          Effect.flatMap(EngineClient.EngineClient, (engine) => Effect.flip(engine.list)).pipe(
            Effect.provide(DockerEngine.layerConfig({ address }))
          )
        const wrong = yield* listOn(sandbox.containerdSocketPath)
        assert.strictEqual(wrong._tag, "EngineRequestError")
        if (wrong._tag === "EngineRequestError") assert.strictEqual(wrong.code, "NotDockerApi")
        assert.include(wrong.message, sandbox.containerdSocketPath)
        const missing = yield* listOn(`${sandbox.directory}/missing.sock`)
        assert.strictEqual(missing._tag === "EngineUnavailable" ? missing.reason : missing._tag, "SocketNotFound")
      }))

    it.effect("a container that died while dockerd was down is announced as Exited by the resync", () =>
      Effect.gen(function*() {
        const sandbox = yield* DockerSandbox.DockerSandbox
        const stays = yield* sandbox.run({ name: `stays-${run}` })
        const dies = yield* sandbox.run({ name: `dies-${run}` })
        const watcher = yield* Effect.map(
          Layer.build(Watcher.layer().pipe(Layer.provide(DockerEngine.layerConfig({ address: sandbox.socketPath })))),
          (context) => Context.get(context, Watcher.Watcher)
        )
        yield* watcher.ready
        yield* converge(truth(sandbox), watcher)
        const exits: Array<string> = []
        yield* watcher.events.pipe(
          Stream.runForEach((event) => Effect.sync(() => event._tag === "Exited" && exits.push(event.container.id))),
          Effect.forkScoped
        )
        yield* sandbox.stop
        // Docker sends no event for a container that dies while it is down.
        process.kill(dies.pid, "SIGKILL")
        yield* sandbox.start()
        const converged = yield* converge(truth(sandbox), watcher)
        assert.isTrue(converged.has(stays.id))
        assert.isFalse(converged.has(dies.id))
        yield* eventually(() => exits.includes(dies.id), "the exit of the container that died while the daemon was down", 30_000)
        assert.notInclude(exits, stays.id)
      }).pipe(Effect.scoped))
  }
)

suite("Docker engine client on a real dockerd", DockerSandbox.layer(), DockerSandbox.DockerSandbox, "docker")
suite("Docker engine client on a real podman", PodmanSandbox.layer(), PodmanSandbox.PodmanSandbox, "podman")
