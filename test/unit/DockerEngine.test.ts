import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Fiber, Layer, Stream } from "effect"
import { DockerConnection, DockerEngine } from "../../src/docker/index.ts"
import { decodeEventLine, sinceParameter } from "../../src/docker/internal/events.ts"
import { EngineClient } from "../../src/index.ts"
import { byId } from "../../src/internal/ordering.ts"
import { eventually } from "../eventually.ts"
import { type FakeDocker, makeFakeDocker } from "./fakeDockerApi.ts"

const address = "/run/fake/docker.sock"

const engineLayer = (fake: FakeDocker, options: DockerConnection.DockerConnectionOptions = {}) =>
  Layer.effect(EngineClient.EngineClient, DockerEngine.make()).pipe(
    Layer.provide(DockerConnection.layerHttpClient({ address, ...options })),
    Layer.provide(fake.layer)
  )

const engineOf = (fake: FakeDocker) =>
  Effect.flatMap(
    Effect.provide(DockerEngine.make(), DockerConnection.layerHttpClient({ address }).pipe(Layer.provide(fake.layer))),
    Effect.succeed
  )

const hex = (digit: string) => digit.repeat(64)

/** web (running), db (paused, in project shop), old (exited), fresh (created, never started). */
const populated = (options: Parameters<typeof makeFakeDocker>[0] = {}) => {
  const fake = makeFakeDocker(options)
  fake.add(hex("a"), "web")
  fake.start(hex("a"), 101)
  fake.add(hex("b"), "db", { "com.docker.compose.project": "shop", tier: "data" })
  fake.start(hex("b"), 102)
  fake.pause(hex("b"))
  fake.add(hex("c"), "old")
  fake.start(hex("c"), 103)
  fake.die(hex("c"), 1)
  fake.add(hex("d"), "fresh")
  return fake
}

describe("DockerConnection", () => {
  it.effect("negotiates the API version from the ping", () =>
    Effect.gen(function*() {
      for (const [server, used] of [["1.41", "1.41"], ["1.45", "1.45"], ["1.53", DockerConnection.MaxApiVersion]]) {
        const fake = makeFakeDocker({ apiVersion: server })
        const engine = yield* engineOf(fake)
        yield* engine.list
        assert.include(fake.requests, "GET /_ping")
        assert.isTrue(fake.requests.some((request) => request.startsWith(`GET /v${used}/containers/json`)), fake.requests.join("\n"))
        // One ping per connection.
        yield* engine.list
        assert.strictEqual(fake.requests.filter((request) => request === "GET /_ping").length, 1)
      }
    }))

  it.effect("refuses a daemon older than the oldest API version it speaks", () =>
    Effect.gen(function*() {
      const engine = yield* engineOf(makeFakeDocker({ apiVersion: "1.12" }))
      const error = yield* Effect.flip(engine.list)
      assert.strictEqual(error._tag, "EngineRequestError")
      assert.include(error.message, "1.12")
      assert.include(error.message, address)
    }))

  it.effect("says so when the socket is not a Docker Engine API", () =>
    Effect.gen(function*() {
      const engine = yield* engineOf(makeFakeDocker({ notDocker: true }))
      const error = yield* Effect.flip(engine.list)
      assert.strictEqual(error._tag, "EngineRequestError")
      if (error._tag === "EngineRequestError") assert.strictEqual(error.code, "NotDockerApi")
      assert.include(error.message, address)
    }))

  it.effect("fails every call on a non-unix address, naming it", () =>
    Effect.gen(function*() {
      const fake = populated()
      const exit = yield* Effect.exit(
        Effect.flatMap(EngineClient.EngineClient, (engine) => engine.list).pipe(
          Effect.provide(engineLayer(fake, { address: "tcp://10.0.0.1:2375" }))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.include(String(error && "error" in error ? error.error : error), "only unix:// addresses")
      assert.deepStrictEqual(fake.requests, [])
    }))

  it.effect("reads DOCKER_HOST, and CONTAINER_HOST for Podman", () =>
    Effect.gen(function*() {
      const addressWith = (options: DockerConnection.DockerConnectionOptions, env: Record<string, string>) =>
        Effect.map(DockerConnection.DockerConnection, (connection) => connection.address).pipe(
          Effect.provide(DockerConnection.layerConfig(options)),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
        )
      assert.strictEqual(yield* addressWith({}, {}), DockerConnection.DefaultDockerAddress)
      assert.strictEqual(yield* addressWith({}, { DOCKER_HOST: "unix:///tmp/d.sock" }), "/tmp/d.sock")
      assert.strictEqual(yield* addressWith({ flavor: "podman" }, { DOCKER_HOST: "unix:///tmp/d.sock" }), DockerConnection.DefaultPodmanAddress)
      assert.strictEqual(yield* addressWith({ flavor: "podman" }, { CONTAINER_HOST: "unix:///tmp/p.sock" }), "/tmp/p.sock")
      assert.strictEqual(yield* addressWith({ address: "/x.sock" }, { DOCKER_HOST: "unix:///tmp/d.sock" }), "/x.sock")
    }))

  it.live("a daemon that does not answer is a deadline error, not a hang", () =>
    Effect.gen(function*() {
      const fake = makeFakeDocker({ hangOn: /containers/ })
      const engine = yield* Effect.provide(
        DockerEngine.make(),
        DockerConnection.layerHttpClient({ address, unaryTimeout: "50 millis" }).pipe(Layer.provide(fake.layer))
      )
      const error = yield* Effect.flip(engine.list)
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag === "EngineUnavailable") assert.strictEqual(error.reason, "DeadlineExceeded")
      assert.include(error.message, address)
    }))
})

describe("DockerEngine list and inspect", () => {
  it.effect("lists exactly the running and paused containers, inspected", () =>
    Effect.gen(function*() {
      const fake = populated()
      const engine = yield* engineOf(fake)
      const containers = [...(yield* engine.list)].sort(byId)
      assert.deepStrictEqual(containers, [
        { id: hex("a"), name: "web", labels: {}, pid: 101, project: "", paused: false, namespace: "" },
        {
          id: hex("b"),
          name: "db",
          labels: { "com.docker.compose.project": "shop", tier: "data" },
          pid: 102,
          project: "shop",
          paused: true,
          namespace: ""
        }
      ])
      // The list asked for running and paused with the status filter (Podman's plain list omits paused).
      const listRequest = fake.requests.find((request) => request.includes("/containers/json"))!
      assert.deepStrictEqual(JSON.parse(new URL(`http://x${listRequest.slice(4)}`).searchParams.get("filters")!), {
        status: ["running", "paused"]
      })
      // 1 ping + 1 list + 1 inspect per alive container.
      assert.strictEqual(fake.requests.length, 4)
    }))

  it.effect("on Podman, one request lists everything (its native list has PIDs)", () =>
    Effect.gen(function*() {
      const docker = populated()
      const podman = populated({ podman: true })
      const fromDocker = [...(yield* (yield* engineOf(docker)).list)].sort(byId)
      const fromPodman = [...(yield* (yield* engineOf(podman)).list)].sort(byId)
      assert.deepStrictEqual(fromPodman, fromDocker)
      assert.strictEqual(fromPodman.length, 2)
      assert.deepStrictEqual(podman.requests.filter((request) => request !== "GET /_ping").map((r) => r.split("?")[0]), [
        "GET /v1.41/libpod/containers/json"
      ])
    }))

  it.effect("inspects by name, full ID and unambiguous prefix", () =>
    Effect.gen(function*() {
      const fake = populated()
      fake.add(`ab${"0".repeat(62)}`, "twin")
      fake.start(`ab${"0".repeat(62)}`, 104)
      const engine = yield* engineOf(fake)
      assert.strictEqual((yield* engine.inspect("db")).pid, 102)
      assert.strictEqual((yield* engine.inspect(hex("b"))).name, "db")
      assert.strictEqual((yield* engine.inspect("bbbb")).id, hex("b"))
      assert.strictEqual((yield* engine.inspect("ab")).name, "twin")
      // "a" is a prefix of two IDs: ambiguous, as with docker inspect.
      assert.strictEqual((yield* Effect.flip(engine.inspect("a")))._tag, "EngineRequestError")
      const missing = yield* Effect.flip(engine.inspect("nothing"))
      assert.strictEqual(missing._tag, "ContainerNotFound")
      assert.include(missing.message, address)
      assert.strictEqual((yield* Effect.flip(engine.inspect("")))._tag, "ContainerNotFound")
    }))

  it.effect("a container without a process is ProcesslessContainer", () =>
    Effect.gen(function*() {
      const engine = yield* engineOf(populated())
      for (const name of ["old", "fresh"]) {
        const error = yield* Effect.flip(engine.inspect(name))
        assert.strictEqual(error._tag, "ProcesslessContainer")
      }
    }))

  it.effect("reports type, ID and version", () =>
    Effect.gen(function*() {
      const engine = yield* engineOf(populated())
      assert.strictEqual(engine.type, "docker.com")
      assert.strictEqual(engine.api, address)
      assert.strictEqual(yield* engine.id, "FAKE:DOCKER:ID")
      assert.strictEqual(yield* engine.version, "20.10.24 API 1.41")
    }))

  it.effect("Podman's ID stays the same from call to call (its /info makes up a new one each time)", () =>
    Effect.gen(function*() {
      const engine = yield* engineOf(populated({ podman: true }))
      const first = yield* engine.id
      assert.strictEqual(first, "podman:fakehost:/var/lib/containers/storage")
      assert.strictEqual(yield* engine.id, first)
    }))
})

describe("DockerEngine events", () => {
  it.live("replays from the daemon's clock: nothing after the clock reading is missed", () =>
    Effect.gen(function*() {
      const fake = populated()
      const engine = yield* engineOf(fake)
      const events = yield* engine.subscribe
      const request = fake.requests.find((r) => r.includes("/events"))!
      const params = new URL(`http://x${request.slice(4)}`).searchParams
      const filters = JSON.parse(params.get("filters")!) as { type: Array<string>; event: Array<string> }
      assert.deepStrictEqual(filters.type, ["container"])
      for (const action of ["start", "die", "died", "pause", "unpause", "rename"]) assert.include(filters.event, action)
      // The events before subscribe (older than the clock reading) are not replayed.
      fake.unpause(hex("b"))
      const first = yield* events.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(first[0]?._tag, "Unpaused")
      assert.strictEqual(first[0]?.id, hex("b"))
      assert.strictEqual(first[0]?.project, "shop")
    }).pipe(Effect.scoped))

  it.effect("the since parameter is the daemon's SystemTime, to the nanosecond", () =>
    Effect.sync(() => {
      assert.strictEqual(sinceParameter("2026-12-02T13:00:00.123456789Z"), "1796216400.123456789")
      assert.strictEqual(sinceParameter("2026-12-02T14:00:00.5+01:00"), "1796216400.500000000")
      assert.strictEqual(sinceParameter("2026-12-02T13:00:00Z"), "1796216400.000000000")
      assert.isUndefined(sinceParameter("yesterday"))
    }))

  it.live("maps start, die, pause, unpause and rename; exec_die and garbage are skipped and counted", () =>
    Effect.gen(function*() {
      const fake = populated()
      const engine = yield* engineOf(fake)
      const events = yield* engine.subscribe
      const collected = yield* events.pipe(Stream.take(6), Stream.runCollect, Effect.forkChild)
      fake.add(hex("e"), "new", { "com.docker.compose.project": "lab" })
      fake.start(hex("e"), 105)
      fake.execDie(hex("e"), 3)
      fake.sendRaw("{not json")
      fake.sendRaw("{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{}}")
      fake.emit("network", "connect", "net1")
      fake.pause(hex("e"))
      fake.unpause(hex("e"))
      fake.rename(hex("e"), "renamed")
      fake.die(hex("e"), 137)
      fake.die(hex("a"), 0)
      const got = yield* Fiber.join(collected)
      // A rename is completed by an inspect beside the reading, so its Updated may come later.
      const inOrder = got.filter((event) => event._tag !== "Updated")
      assert.deepStrictEqual(inOrder.map((event) => event._tag), ["Started", "Paused", "Unpaused", "Exited", "Exited"])
      const [started, , , exited] = inOrder
      const updated = got.find((event) => event._tag === "Updated")
      assert.strictEqual(started?.name, "new")
      assert.strictEqual(started?.project, "lab")
      assert.deepStrictEqual(updated, {
        _tag: "Updated",
        timestamp: updated!.timestamp,
        id: hex("e"),
        namespace: "",
        labels: { "com.docker.compose.project": "lab" },
        name: "renamed",
        project: "lab"
      })
      assert.strictEqual(exited?._tag === "Exited" ? exited.exitStatus : undefined, 137)
      const skipped = yield* (engine as DockerEngine.DockerEngineShape).skippedEvents
      // exec_die is filtered by the daemon on Docker; here the fake sends it anyway (as no filter can).
      assert.deepStrictEqual(skipped, { ignored: 0, "exec-exit": 0, unknown: 0, garbled: 2 })
      // A Started is completed by one inspect: here the container has died since.
      assert.strictEqual((yield* Effect.flip(engine.resolveStarted(started as never)))._tag, "ProcesslessContainer")
    }).pipe(Effect.scoped))

  it.effect("exec_die and health checks are never container exits", () =>
    Effect.sync(() => {
      const line = (action: string) =>
        `{"Type":"container","Action":${JSON.stringify(action)},"Actor":{"ID":"x","Attributes":{"exitCode":"3"}},"timeNano":1796195795909192363}`
      assert.strictEqual(decodeEventLine(line("exec_die"), "p"), "exec-exit")
      assert.strictEqual(decodeEventLine(line("exec_died"), "p"), "exec-exit")
      assert.strictEqual(decodeEventLine(line("exec_start: /bin/sh -c true"), "p"), "exec-exit")
      assert.strictEqual(decodeEventLine(line("health_status: healthy"), "p"), "unknown")
      assert.strictEqual(decodeEventLine(line("destroy"), "p"), "unknown")
      const died = decodeEventLine(line("died"), "p")
      assert.strictEqual(typeof died === "object" ? died._tag : died, "Exited")
    }))

  it.effect("keeps timeNano's precision (larger than 2^53)", () =>
    Effect.sync(() => {
      // JSON.parse rounds this to ...393000000, a millisecond later than the event happened.
      const decoded = decodeEventLine(
        `{"Type":"container","Action":"pause","Actor":{"ID":"x"},"time":1796195795,"timeNano":1796195795392999900}`,
        "p"
      )
      assert.isTrue(typeof decoded === "object")
      if (typeof decoded === "object") assert.strictEqual(decoded.timestamp.epochMilliseconds, 1796195795392)
    }))

  it.live("reads the stream into its own queue while the consumer does not read", () =>
    Effect.gen(function*() {
      const fake = populated()
      const engine = yield* engineOf(fake)
      const events = yield* engine.subscribe
      fake.add(hex("f"), "burst")
      for (let round = 0; round < 500; round++) {
        fake.start(hex("f"), 1000 + round)
        fake.die(hex("f"), 0)
      }
      // Nobody consumes `events`, yet the daemon's side gets read to the end.
      yield* eventually(() => fake.unread() === 0, "the client read every event line")
      const all = yield* events.pipe(Stream.take(1000), Stream.runCollect)
      assert.strictEqual(all.length, 1000)
      assert.strictEqual(all.filter((event) => event._tag === "Started").length, 500)
    }).pipe(Effect.scoped))

  it.live("a cut stream is ConnectionLost", () =>
    Effect.gen(function*() {
      const fake = populated()
      const engine = yield* engineOf(fake)
      const events = yield* engine.subscribe
      const drained = yield* events.pipe(Stream.runDrain, Effect.flip, Effect.forkChild)
      yield* eventually(() => fake.openStreams() === 1, "the stream is open")
      fake.cutStreams()
      const error = yield* Fiber.join(drained)
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag === "EngineUnavailable") assert.strictEqual(error.reason, "ConnectionLost")
      assert.include(error.message, address)
    }).pipe(Effect.scoped))

  it.live("closing the subscription's scope ends the request", () =>
    Effect.gen(function*() {
      const fake = populated()
      const engine = yield* engineOf(fake)
      yield* Effect.scoped(Effect.flatMap(engine.subscribe, () => eventually(() => fake.openStreams() === 1, "open")))
      yield* eventually(() => fake.openStreams() === 0, "the stream was cancelled")
    }))
})
