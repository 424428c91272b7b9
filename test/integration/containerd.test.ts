/**
 * The connection and the engine client against a REAL containerd: the private one the
 * ContainerdSandbox layer starts for this file and tears down afterwards.
 */
import * as path from "node:path"
import type { Interceptor } from "@connectrpc/connect"
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Queue, Stream } from "effect"
import { TaskExitSchema, TaskPausedSchema, TaskStartSchema } from "../../gen/containerd/events/task_pb.ts"
import { fromBinary } from "@bufbuild/protobuf"
import { ContainerdConnection, ContainerdEngine, LabelMapping, NamespaceFilter } from "../../src/containerd/index.ts"
import { typeNameOf } from "../../src/containerd/internal/events.ts"
import type { ContainerEvent } from "../../src/index.ts"
import { readCommandLine } from "../../src/internal/procfs.ts"
import { EngineClient } from "../../src/index.ts"
import { ContainerdSandbox } from "../../src/testing/index.ts"
import { runProcess } from "../../src/testing/internal/process.ts"
import { eventually } from "../eventually.ts"
import { awaitConnections, openConnections, settledConnections } from "./connections.ts"

// Container ids unique to this run: runc keeps state per namespace/id outside the sandbox.
const run = Math.random().toString(36).slice(2, 8)
const uid = (name: string) => `${name}-${run}`

const connectionIn = (address: string) =>
  Effect.map(
    Layer.build(ContainerdConnection.layer({ address })),
    (context) => Context.get(context, ContainerdConnection.ContainerdConnection)
  )

const engineIn = (address: string, options: Parameters<typeof ContainerdEngine.layerConfig>[0] = {}) =>
  Effect.map(
    Layer.build(ContainerdEngine.layerConfig({ ...options, address })),
    (context) => Context.get(context, EngineClient.EngineClient) as ContainerdEngine.ContainerdEngineShape
  )

/** Takes events from a queue until one matches, failing after a few seconds. */
const awaitEvent = <A>(queue: Queue.Dequeue<A, unknown>, matches: (a: A) => boolean, seen: Array<A> = []) =>
  Effect.gen(function*() {
    while (true) {
      const next = yield* Queue.take(queue)
      seen.push(next)
      if (matches(next)) return next
    }
  }).pipe(Effect.timeout("10 seconds"))

const markerTopic = "/effect-whalewatcher-test/marker"

/**
 * containerd does not acknowledge a subscription: publishes marker events (topic
 * {@link markerTopic}) in `namespace` until `arrived` tells that one came back on the stream.
 */
const untilSubscribed = (
  connection: ContainerdConnection.ContainerdConnectionShape,
  namespace: string,
  arrived: () => boolean
) =>
  eventually(
    Effect.andThen(
      connection.call("Events.Publish", (c, o) =>
        c.events.publish({
          topic: markerTopic,
          event: { typeUrl: "effect-whalewatcher.test.Marker", value: new Uint8Array() }
        }, o), { namespace }),
      Effect.sync(arrived)
    ),
    "a marker came back on the subscription"
  )

layer(ContainerdSandbox.layer(), { excludeTestServices: true })("real containerd", (it) => {
  describe("ContainerdConnection", () => {
    it.effect("Version, Introspection, Namespaces, Containers and Tasks with labels across namespaces", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const connection = yield* connectionIn(`unix://${sandbox.socketPath}`)
        const web = uid("web")
        const pid = yield* sandbox.run({ id: web, namespace: "conn-a", labels: { "nerdctl/name": "web", tier: "front" } })
        yield* sandbox.run({ id: uid("db"), namespace: "conn-b", labels: { tier: "back" } })

        const version = yield* connection.call("Version.Version", (c, o) => c.version.version({}, o))
        assert.match(version.version, /^1\./)
        const server = yield* connection.call("Introspection.Server", (c, o) => c.introspection.server({}, o))
        assert.match(server.uuid, /^[0-9a-f-]{36}$/)
        const namespaces = yield* connection.call("Namespaces.List", (c, o) => c.namespaces.list({}, o))
        assert.includeMembers(namespaces.namespaces.map((n) => n.name), ["conn-a", "conn-b"])

        const containers = yield* connection.call("Containers.List", (c, o) => c.containers.list({}, o), {
          namespace: "conn-a"
        })
        assert.deepStrictEqual(containers.containers.map((c) => [c.id, c.labels]), [[web, { "nerdctl/name": "web", tier: "front" }]])
        const got = yield* connection.call("Containers.Get", (c, o) => c.containers.get({ id: web }, o), {
          namespace: "conn-a"
        })
        assert.strictEqual(got.container?.labels["tier"], "front")
        const tasks = yield* connection.call("Tasks.List", (c, o) => c.tasks.list({}, o), { namespace: "conn-a" })
        assert.deepStrictEqual(tasks.tasks.map((t) => [t.id, t.pid, t.status]), [[web, pid, 2]])
        const other = yield* connection.call("Tasks.List", (c, o) => c.tasks.list({}, o), { namespace: "conn-b" })
        assert.deepStrictEqual(other.tasks.map((t) => t.id), [uid("db")])
      }).pipe(Effect.scoped))

    it.effect("a Subscribe stream receives /tasks/start, /tasks/paused and /tasks/exit; interrupting it closes it", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const connection = yield* connectionIn(sandbox.socketPath)
        const topics = yield* Queue.unbounded<{ topic: string; containerId: string; at: number }>()
        const id = uid("sub")
        let subscribed = false
        const fiber = yield* connection.stream("Events.Subscribe", (c, o) =>
          c.events.subscribe({ filters: ["namespace==\"conn-sub\""] }, o)).pipe(
            Stream.runForEach((envelope) => {
              if (envelope.topic === markerTopic) return Effect.sync(() => subscribed = true)
              const schema = { "TaskStart": TaskStartSchema, "TaskPaused": TaskPausedSchema, "TaskExit": TaskExitSchema }[
                typeNameOf(envelope.event?.typeUrl ?? "").replace("containerd.events.", "")
              ]
              const containerId = schema === undefined ? "" : fromBinary(schema, envelope.event!.value).containerId
              return Queue.offer(topics, {
                topic: envelope.topic,
                containerId,
                at: Number(envelope.timestamp?.seconds ?? 0n) * 1000
              })
            }),
            Effect.forkChild
          )
        yield* untilSubscribed(connection, "conn-sub", () => subscribed)
        const before = yield* openConnections(sandbox.socketPath)
        assert.isAtLeast(before, 1)
        yield* sandbox.run({ id, namespace: "conn-sub" })
        yield* sandbox.pause("conn-sub", id)
        yield* sandbox.kill("conn-sub", id)
        const seen: Array<{ topic: string; containerId: string; at: number }> = []
        yield* awaitEvent(topics, (e) => e.topic === "/tasks/exit", seen)
        const ours = seen.filter((e) => e.containerId === id).map((e) => e.topic)
        assert.includeMembers(ours, ["/tasks/start", "/tasks/paused", "/tasks/exit"])
        for (const event of seen) assert.isTrue(Math.abs(event.at - Date.now()) < 60_000)
        yield* Fiber.interrupt(fiber)
        // the stream's connection stays (one session per scope) but the server stream is gone:
        // a second subscription works and the session is still just one connection
        assert.strictEqual(yield* openConnections(sandbox.socketPath), before)
      }).pipe(Effect.scoped))

    it.effect("closing the layer's scope closes its session", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const baseline = yield* settledConnections(sandbox.socketPath)
        yield* Effect.gen(function*() {
          const connection = yield* connectionIn(sandbox.socketPath)
          yield* connection.call("Version.Version", (c, o) => c.version.version({}, o))
          assert.strictEqual(yield* openConnections(sandbox.socketPath), baseline + 1)
        }).pipe(Effect.scoped)
        yield* awaitConnections(sandbox.socketPath, baseline)
      }))

    it.effect("a missing socket is SocketNotFound, naming the path", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const address = `${sandbox.directory}/missing.sock`
        const connection = yield* connectionIn(address)
        const error = yield* Effect.flip(connection.call("Version.Version", (c, o) => c.version.version({}, o)))
        assert.strictEqual(error._tag === "EngineUnavailable" && error.reason, "SocketNotFound")
        assert.include(error.message, address)
      }).pipe(Effect.scoped))

    it.effect("a socket this user may not open is PermissionDenied, told in words a person understands", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const root = path.resolve(import.meta.dirname, "../..")
        // containerd's socket is rw for root only: the same program as `nobody` is refused.
        const result = yield* runProcess(
          "setpriv",
          "setpriv",
          ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "--import", "tsx", "examples/version.ts", "--address", sandbox.socketPath],
          { cwd: root, env: { HOME: "/tmp" } }
        )
        assert.strictEqual(result.exitCode, 1, result.stderr)
        assert.include(result.stderr, `Version.Version at ${sandbox.socketPath}: permission denied`)
        assert.include(result.stderr, "EACCES")
      }))

    it.effect("a stream is ConnectionLost when containerd stops; NotListening while it is dead; fine after restart", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const connection = yield* connectionIn(sandbox.socketPath)
        // whatever happens below, later tests need containerd running
        yield* Effect.addFinalizer(() => sandbox.namespaces().pipe(Effect.catch(() => sandbox.start), Effect.ignore))
        let subscribed = false
        const fiber = yield* connection.stream("Events.Subscribe", (c, o) => c.events.subscribe({ filters: [] }, o)).pipe(
          Stream.runForEach((envelope) => Effect.sync(() => subscribed ||= envelope.topic === markerTopic)),
          Effect.flip,
          Effect.forkChild
        )
        yield* untilSubscribed(connection, "default", () => subscribed)
        yield* sandbox.stop
        const lost = yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(lost._tag, "EngineUnavailable")
        if (lost._tag === "EngineUnavailable") {
          assert.include(["ConnectionLost", "Unavailable"], lost.reason)
          assert.isTrue(lost.isRetryable)
          assert.strictEqual(lost.address, sandbox.socketPath)
        }
        // A stopped containerd removes its socket; a crashed one leaves it: connections are refused.
        yield* sandbox.start
        yield* connection.call("Version.Version", (c, o) => c.version.version({}, o))
        yield* sandbox.kill9
        const version = Effect.flip(connection.call("Version.Version", (c, o) => c.version.version({}, o)))
        // The session that was open when containerd crashed is found dead by the calls that use it
        // (at once on Node; on first use on Deno and Bun, or when Node is slow to see the close):
        // those fail as lost connections, then calls on a new connection are refused.
        let afterCrash: ContainerdConnection.CallError | undefined
        yield* eventually(
          Effect.map(version, (error) => {
            afterCrash = error
            return !(error._tag === "EngineUnavailable" && error.reason === "ConnectionLost")
          }),
          "a call no longer finds the connection lost"
        )
        assert.strictEqual(afterCrash?._tag === "EngineUnavailable" && afterCrash.reason, "NotListening")
        yield* sandbox.start
        const recovered = yield* connection.call("Version.Version", (c, o) => c.version.version({}, o))
        assert.match(recovered.version, /^1\./)
      }).pipe(Effect.scoped))
  })

  describe("ContainerdEngine", () => {
    it.effect("list: default and other namespaces, nerdctl names, compose projects, paused; never moby", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const engine = yield* engineIn(sandbox.socketPath)
        const web = uid("web")
        const db = uid("db")
        const hidden = uid("hidden")
        const webPid = yield* sandbox.run({
          id: web,
          namespace: "default",
          labels: { "nerdctl/name": `www-${run}`, "com.docker.compose.project": "shop" }
        })
        const dbPid = yield* sandbox.run({ id: db, namespace: "shop", labels: { "nerdctl/name": "db", "com.docker.compose.project": "shop" } })
        yield* sandbox.pause("shop", db)
        yield* sandbox.create({ id: uid("idle"), namespace: "shop" })
        yield* sandbox.run({ id: hidden, namespace: "moby" })

        const containers = yield* engine.list
        const byId = new Map(containers.map((c) => [c.id, c]))
        assert.deepStrictEqual(byId.get(web), {
          id: web,
          name: `www-${run}`,
          labels: { "nerdctl/name": `www-${run}`, "com.docker.compose.project": "shop" },
          pid: webPid,
          project: "shop",
          paused: false,
          namespace: "default"
        })
        assert.strictEqual(byId.get(`shop/${db}`)?.name, "shop/db")
        assert.strictEqual(byId.get(`shop/${db}`)?.pid, dbPid)
        assert.isTrue(byId.get(`shop/${db}`)?.paused)
        assert.isFalse(byId.has(`shop/${uid("idle")}`), "a container without a task is not alive")
        assert.isFalse(containers.some((c) => c.namespace === "moby"), "moby never appears")
        // ... and the same would appear in an allowed namespace:
        const unfiltered = yield* engineIn(sandbox.socketPath, { ignoreNamespaces: [] })
        assert.isTrue((yield* unfiltered.list).some((c) => c.id === `moby/${hidden}`))

        const namespaces = new Set(containers.map((c) => c.namespace))
        assert.isTrue(namespaces.has("default") && namespaces.has("shop"))
        yield* sandbox.resume("shop", db)
      }).pipe(Effect.scoped))

    it.effect("inspect by display ID and by name; created-but-not-started is processless; moby is not found", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const engine = yield* engineIn(sandbox.socketPath)
        const api = uid("api")
        const pid = yield* sandbox.run({ id: api, namespace: "insp", labels: { "nerdctl/name": `api-${run}` } })
        yield* sandbox.create({ id: uid("born"), namespace: "insp" })
        yield* sandbox.run({ id: uid("docker"), namespace: "moby", labels: { "nerdctl/name": `docker-${run}` } })

        assert.strictEqual((yield* engine.inspect(`insp/${api}`)).pid, pid)
        assert.strictEqual((yield* engine.inspect(`insp/api-${run}`)).id, `insp/${api}`)
        const processless = yield* Effect.flip(engine.inspect(`insp/${uid("born")}`))
        assert.strictEqual(processless._tag, "ProcesslessContainer")
        assert.include(processless.message, `insp/${uid("born")}`)
        const notFound = yield* Effect.flip(engine.inspect(`moby/${uid("docker")}`))
        assert.strictEqual(notFound._tag, "ContainerNotFound")
        assert.include(notFound.message, sandbox.socketPath)
      }).pipe(Effect.scoped))

    it.effect("events: start, pause, resume, label update, exit — engine timestamps; exec exits and moby never", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const engine = yield* engineIn(sandbox.socketPath)
        const id = uid("ev")
        const events = yield* engine.subscribe
        const queue = yield* Queue.unbounded<ContainerEvent.ContainerEvent>()
        yield* events.pipe(Stream.runForEach((event) => Queue.offer(queue, event)), Effect.forkScoped)
        const started = Date.now()

        yield* sandbox.run({ id: uid("docker-ev"), namespace: "moby" })
        const pid = yield* sandbox.run({ id, namespace: "evts" })
        yield* sandbox.pause("evts", id)
        yield* sandbox.resume("evts", id)
        assert.strictEqual(yield* sandbox.exec({ namespace: "evts", id, execId: "x3", command: ["/bin/sh", "-c", "exit 3"] }), 3)
        yield* sandbox.label("evts", id, { "nerdctl/name": "relabelled", "com.docker.compose.project": "p2" })
        const seen: Array<ContainerEvent.ContainerEvent> = []
        yield* awaitEvent(queue, (e) => e._tag === "Updated", seen)
        // the exec's exit came and went: the container is still alive and no Exited was emitted
        assert.deepStrictEqual((yield* sandbox.tasks("evts")).map((t) => t.status), ["RUNNING"])
        yield* sandbox.kill("evts", id)
        yield* awaitEvent(queue, (e) => e._tag === "Exited", seen)

        assert.isFalse(seen.some((e) => e.namespace === "moby"), "moby events never arrive")
        assert.deepStrictEqual(seen.map((e) => `${e._tag} ${e.id}`), [
          `Started evts/${id}`,
          `Paused evts/${id}`,
          `Unpaused evts/${id}`,
          `Updated evts/${id}`,
          `Exited evts/${id}`
        ])
        const [start, , , updated, exit] = seen
        assert.strictEqual(start?._tag === "Started" && start.pid, pid)
        assert.strictEqual(exit?._tag === "Exited" && exit.exitStatus, 137)
        assert.deepStrictEqual(updated?._tag === "Updated" && [updated.name, updated.project], ["evts/relabelled", "p2"])
        for (let i = 0; i < seen.length; i++) {
          const at = seen[i]!.timestamp.epochMilliseconds
          assert.isTrue(at >= started - 1000 && at <= Date.now() + 1000, "engine timestamps of this run")
          if (i > 0) assert.isTrue(at >= seen[i - 1]!.timestamp.epochMilliseconds, "in order")
        }
        assert.isAtLeast((yield* engine.skippedEvents)["exec-exit"], 1)
      }).pipe(Effect.scoped))

    it.effect("closing the scope ends the event stream and leaves no open session", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const baseline = yield* settledConnections(sandbox.socketPath)
        const ended = yield* Effect.gen(function*() {
          const engine = yield* engineIn(sandbox.socketPath)
          const events = yield* engine.subscribe
          return yield* events.pipe(Stream.runDrain, Effect.exit, Effect.forkDetach)
        }).pipe(Effect.scoped)
        const exit = yield* Fiber.join(ended).pipe(Effect.timeout("5 seconds"))
        assert.isTrue(exit._tag === "Failure")
        yield* awaitConnections(sandbox.socketPath, baseline)
      }))

    it.effect("a list costs 1 + 2 × (watched namespaces) RPCs, whatever the number of containers", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        for (let n = 0; n < 9; n++) yield* sandbox.run({ id: uid(`rpc${n}`), namespace: `rpc-${n % 3}` })
        const methods: Array<string> = []
        const countCalls: Interceptor = (next) => (request) => {
          methods.push(request.method.name)
          return next(request)
        }
        const engine = yield* Effect.map(
          Layer.build(ContainerdEngine.layer().pipe(
            Layer.provide(ContainerdConnection.layer({ address: sandbox.socketPath, interceptors: [countCalls] })),
            Layer.provide(NamespaceFilter.layer),
            Layer.provide(LabelMapping.layer)
          )),
          (context) => Context.get(context, EngineClient.EngineClient)
        )
        const containers = yield* engine.list
        const namespaces = (yield* sandbox.namespaces()).filter((ns) => !NamespaceFilter.DefaultIgnoredNamespaces.includes(ns))
        assert.isAtLeast(containers.length, 9)
        assert.strictEqual(methods.length, 1 + 2 * namespaces.length, methods.join(","))
        // Namespaces.List and Tasks.List per namespace; the records by Containers.ListStream
        assert.strictEqual(methods.filter((m) => m === "ListStream").length, namespaces.length)
        assert.strictEqual(methods.filter((m) => m === "List").length, 1 + namespaces.length)
        yield* Effect.logInfo(`list of ${containers.length} containers in ${namespaces.length} namespaces: ${methods.length} RPCs`)
      }).pipe(Effect.scoped))

    it.effect("id, version, type, api and pid", () =>
      Effect.gen(function*() {
        const sandbox = yield* ContainerdSandbox.ContainerdSandbox
        const engine = yield* engineIn(sandbox.socketPath)
        assert.strictEqual(engine.type, "containerd.io")
        assert.strictEqual(engine.api, sandbox.socketPath)
        assert.match(yield* engine.id, /^[0-9a-f-]{36}$/)
        assert.match(yield* engine.version, /^1\.\S+ \S+$/)
        const pid = yield* engine.pid
        assert.isDefined(pid)
        const commandLine = yield* Effect.promise(() => readCommandLine(pid))
        assert.strictEqual(path.basename(commandLine[0] ?? ""), "containerd")
      }).pipe(Effect.scoped))
  })
})
