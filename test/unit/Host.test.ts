/**
 * The host watcher over fake engines: one merged picture, each container once (a Docker
 * container is not shown again under its containerd), events tagged with their engine, a late
 * engine announced with its containers as Started, an engine that goes away keeping its picture
 * while Retrying.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { Host } from "../../src/index.ts"
import { FakeEngine } from "../../src/testing/index.ts"

const docker = { kind: "docker", address: "/run/docker.sock" }
const containerd = { kind: "containerd", address: "/run/containerd/containerd.sock" }
const podman = { kind: "podman", address: "/run/podman/podman.sock" }

const sourceOf = (engine: Host.HostEngine, fake: FakeEngine.FakeEngine): Host.EngineSource => ({
  engine,
  client: FakeEngine.layer(fake)
})

/** The picture as `address id` lines. */
const lines = (containers: ReadonlyArray<Host.HostContainer>) =>
  containers.map(({ container, engine }) => `${engine.address} ${container.id}`)

/** Waits (in real time, against a deadline) until `check` holds. */
const eventually = <A>(read: Effect.Effect<A>, check: (a: A) => boolean) =>
  Effect.gen(function*() {
    while (true) {
      const value = yield* read
      if (check(value)) return value
      yield* Effect.sleep("5 millis")
    }
  }).pipe(Effect.timeout("5 seconds"))

describe("Host", () => {
  it.live("merges the engines' pictures, each container once, under the engine that names it", () =>
    Effect.gen(function*() {
      const dockerFake = FakeEngine.make({ address: docker.address })
      dockerFake.add({ id: "c0ffee", namespace: "" })
      const containerdFake = FakeEngine.make({ address: containerd.address })
      // Docker's containerd holds the same container under the namespace Docker gave it.
      containerdFake.add({ id: "dockerns/c0ffee", namespace: "dockerns" })
      containerdFake.add({ id: "web" })
      const host = yield* Host.make([sourceOf(containerd, containerdFake), sourceOf(docker, dockerFake)])
      const picture = yield* eventually(host.containers.get, (containers) => containers.length >= 2)
      assert.deepStrictEqual(lines(picture), [`${containerd.address} web`, `${docker.address} c0ffee`])
      yield* eventually(host.allLive, (live) => live)

      // A Docker start shows once, with its engine; its containerd copy never.
      const seen: Array<string> = []
      yield* host.events.pipe(
        Stream.runForEach(({ engine, event }) => Effect.sync(() => seen.push(`${event._tag} ${engine.kind} ${event.container.id}`))),
        Effect.forkScoped
      )
      yield* Effect.sleep("10 millis")
      dockerFake.add({ id: "beef", namespace: "" })
      yield* eventually(host.containers.get, (containers) => containers.length === 3)
      containerdFake.add({ id: "dockerns/beef", namespace: "dockerns" })
      containerdFake.add({ id: "db" })
      const after = yield* eventually(host.containers.get, (containers) => containers.length === 4)
      assert.deepStrictEqual(lines(after), [
        `${containerd.address} db`,
        `${containerd.address} web`,
        `${docker.address} beef`,
        `${docker.address} c0ffee`
      ])
      yield* eventually(Effect.sync(() => seen.length), (count) => count >= 2)
      assert.deepStrictEqual(seen, ["Started docker beef", "Started containerd db"])
    }).pipe(Effect.scoped))

  it.live("an engine added later is announced with its containers as Started; one that goes away keeps its picture", () =>
    Effect.gen(function*() {
      const dockerFake = FakeEngine.make({ address: docker.address })
      dockerFake.add({ id: "one", namespace: "" })
      const host = yield* Host.make([sourceOf(docker, dockerFake)])
      yield* eventually(host.allLive, (live) => live)
      const seen: Array<string> = []
      const reader = yield* host.events.pipe(
        Stream.runForEach(({ engine, event }) => Effect.sync(() => seen.push(`${event._tag} ${engine.kind} ${event.container.id}`))),
        Effect.forkScoped
      )
      yield* Effect.sleep("10 millis")
      const podmanFake = FakeEngine.make({ address: podman.address })
      podmanFake.add({ id: "p1", namespace: "" })
      podmanFake.add({ id: "p2", namespace: "", paused: true })
      yield* host.add(sourceOf(podman, podmanFake))
      yield* host.add(sourceOf(podman, podmanFake)) // the same address again: nothing new
      yield* eventually(Effect.sync(() => seen.length), (count) => count >= 2)
      assert.deepStrictEqual(seen.sort(), ["Started podman p1", "Started podman p2"])
      const engines = yield* eventually(host.engines.get, (states) => states.every((state) => state.status._tag === "Live"))
      assert.deepStrictEqual(engines.map((state) => state.engine), [docker, podman])

      podmanFake.failNext("list", undefined, 1_000)
      podmanFake.disconnect()
      const retrying = yield* eventually(
        host.engines.get,
        (states) => states.find((state) => state.engine.kind === "podman")?.status._tag === "Retrying"
      )
      assert.strictEqual(retrying.find((state) => state.engine.kind === "docker")?.status._tag, "Live")
      assert.deepStrictEqual(lines(yield* host.containers.get), [`${docker.address} one`, `${podman.address} p1`, `${podman.address} p2`])
      yield* Fiber.interrupt(reader)
    }).pipe(Effect.scoped))
})
