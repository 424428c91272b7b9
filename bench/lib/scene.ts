/**
 * The containers the benchmarks run on: busybox `sleep` containers started with `ctr run` in the
 * private containerd of a ContainerdSandbox, spread round-robin over a fixed set of namespaces,
 * labelled like nerdctl/compose containers (a name, a project) so the engine's label mapping has
 * real work to do.
 */
import { Effect } from "effect"
import type { ContainerdSandbox } from "../../src/testing/index.ts"
import { availableMemory } from "./machine.ts"

export const benchNamespaces: ReadonlyArray<string> = Array.from({ length: 8 }, (_, i) => `bench-${i}`)

/** Keep this much memory free whatever happens: the machine runs other things too. */
const reserveBytes = 2 * 2 ** 30
/** A first guess of what one container costs (shim + sleep + containerd's share), refined as they start. */
const initialGuessBytes = 16 * 2 ** 20

export interface Scene {
  readonly sandbox: ContainerdSandbox.ContainerdSandboxShape
  /** How many containers this scene started (all alive). */
  alive: number
  /** Measured memory per started container, in bytes (MemAvailable before minus after, per container). */
  bytesPerContainer: number
  /** Seconds spent starting containers, in total. */
  setupSeconds: number
  /** MemAvailable consumed by starting containers, in total (bytes), and by how many. */
  memoryUsed: number
  memoryMeasuredFor: number
  /** A run id in every container id: runc keeps per-id state outside the sandbox. */
  readonly run: string
  /** Start counter for containers started by the event benchmark. */
  extra: number
}

export const makeScene = (sandbox: ContainerdSandbox.ContainerdSandboxShape): Scene => ({
  sandbox,
  alive: 0,
  bytesPerContainer: initialGuessBytes,
  setupSeconds: 0,
  memoryUsed: 0,
  memoryMeasuredFor: 0,
  run: Math.random().toString(36).slice(2, 8),
  extra: 0
})

/** Starts one labelled container with `ctr run --detach` (no look-up of its task afterwards). */
export const startContainer = (scene: Scene, index: number, namespace: string, prefix = "svc") =>
  scene.sandbox.ctr([
    "run",
    "--detach",
    "--null-io",
    "--label",
    `nerdctl/name=${prefix}-${index}`,
    "--label",
    `com.docker.compose.project=proj-${index % 25}`,
    "--label",
    `bench.index=${index}`,
    "--rootfs",
    scene.sandbox.rootfs,
    `${prefix}-${index}-${scene.run}`,
    "/bin/sleep",
    "1000000"
  ], namespace)

export interface Growth {
  readonly requested: number
  /** What the scene holds now; less than requested when memory did not allow more. */
  readonly reached: number
  readonly seconds: number
  /** Why fewer than requested, if so. */
  readonly limitedBy?: string
}

/**
 * Starts containers until `target` are alive, `concurrency` `ctr run`s at a time, in batches so
 * that the memory check between batches can stop before the machine runs out.
 */
export const growTo = (scene: Scene, target: number, concurrency: number): Effect.Effect<Growth, unknown> =>
  Effect.gen(function*() {
    const start = performance.now()
    let limitedBy: string | undefined
    while (scene.alive < target) {
      const before = yield* Effect.promise(availableMemory)
      const affordable = Math.floor((before - reserveBytes) / scene.bytesPerContainer)
      const batch = Math.min(target - scene.alive, 50, affordable)
      if (batch <= 0) {
        limitedBy = `memory: ${(before / 2 ** 30).toFixed(1)} GiB available, ` +
          `${(scene.bytesPerContainer / 2 ** 20).toFixed(1)} MiB per container, ${reserveBytes / 2 ** 30} GiB kept free`
        break
      }
      const first = scene.alive
      yield* Effect.forEach(
        Array.from({ length: batch }, (_, i) => first + i),
        (index) => startContainer(scene, index, benchNamespaces[index % benchNamespaces.length]!),
        { concurrency, discard: true }
      )
      scene.alive += batch
      const after = yield* Effect.promise(availableMemory)
      scene.memoryUsed += before - after
      scene.memoryMeasuredFor += batch
      // Page cache and containerd's own growth make single batches noisy: never go below the guess's half.
      scene.bytesPerContainer = Math.max(initialGuessBytes / 2, (before - after) / batch, scene.bytesPerContainer * 0.5)
    }
    const seconds = (performance.now() - start) / 1000
    scene.setupSeconds += seconds
    return limitedBy === undefined
      ? { requested: target, reached: scene.alive, seconds }
      : { requested: target, reached: scene.alive, seconds, limitedBy }
  })
