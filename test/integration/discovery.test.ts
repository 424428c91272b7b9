/**
 * Discovery on this machine's real /proc, with a REAL private containerd, a REAL private dockerd
 * (on a containerd of its own) and a REAL podman service running at once: among the engines
 * found, those in our sandboxes are exactly these four sockets, with the PIDs, versions and IDs
 * the engines report themselves; their ttrpc sockets and other sockets are not taken for engines.
 * (Other tests' sandboxes may run beside: only ours are compared.)
 */
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { DockerEngine } from "../../src/docker/index.ts"
import { ContainerdEngine } from "../../src/containerd/index.ts"
import { Discovery } from "../../src/discovery/index.ts"
import { EngineClient } from "../../src/index.ts"
import { ContainerdSandbox, DockerSandbox, PodmanSandbox } from "../../src/testing/index.ts"

const sandboxes = Layer.mergeAll(ContainerdSandbox.layer(), DockerSandbox.layer(), PodmanSandbox.layer())

const idOf = (engine: Layer.Layer<EngineClient.EngineClient, unknown>) =>
  Effect.flatMap(Layer.build(engine), (context) => Context.get(context, EngineClient.EngineClient).id).pipe(Effect.scoped, Effect.orDie)

layer(sandboxes, { excludeTestServices: true, timeout: "180 seconds" })("discovery on a real host", (it) => {
  it.effect("finds our containerd, dockerd (and its containerd) and podman service, probed, nothing else of ours", () =>
    Effect.gen(function*() {
      const containerd = yield* ContainerdSandbox.ContainerdSandbox
      const docker = yield* DockerSandbox.DockerSandbox
      const podman = yield* PodmanSandbox.PodmanSandbox
      const found = yield* Discovery.discover()
      const ours = [containerd.socketPath, docker.socketPath, docker.containerdSocketPath, podman.socketPath]
      const directories = ours.map((socketPath) => path.dirname(socketPath))
      const mine = found.engines.filter((engine) => directories.some((directory) => engine.socketPath.startsWith(`${directory}/`)))
      assert.deepStrictEqual(
        mine.map((engine) => [engine.kind, engine.socketPath]).sort(),
        [
          ["containerd", containerd.socketPath],
          ["containerd", docker.containerdSocketPath],
          ["docker", docker.socketPath],
          ["podman", podman.socketPath]
        ].sort()
      )
      const byPath = new Map(mine.map((engine) => [engine.socketPath, engine]))
      assert.strictEqual(byPath.get(containerd.socketPath)?.id, yield* idOf(ContainerdEngine.layerConfig({ address: containerd.socketPath })))
      assert.strictEqual(byPath.get(docker.socketPath)?.id, yield* idOf(DockerEngine.layerConfig({ address: docker.socketPath })))
      assert.strictEqual(byPath.get(podman.socketPath)?.id, yield* idOf(DockerEngine.layerConfig({ address: podman.socketPath, flavor: "podman" })))
      for (const engine of mine) {
        assert.isNumber(engine.pid, `${engine.socketPath} has its process`)
        assert.notStrictEqual(engine.version, "")
      }
      assert.match(byPath.get(docker.socketPath)?.version ?? "", /API 1\.\d+/)
      assert.deepStrictEqual(found.notes, [], "as root, every engine's sockets can be read")
    }))
})
