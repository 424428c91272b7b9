/**
 * Test support for apps built on effect-whalewatcher: fakes to inject as mock layers, and a real,
 * private containerd for integration tests.
 *
 * @since 0.1.0
 */
/** A fake containerd on connect's router transport. */
export * as FakeContainerd from "./FakeContainerd.ts"
/** A real, private, throwaway containerd as a scoped layer. */
export * as ContainerdSandbox from "./ContainerdSandbox.ts"
/** A scriptable in-memory engine, and a Watcher over it. */
export * as FakeEngine from "./FakeEngine.ts"
/** A real, private, throwaway dockerd (on a private containerd) as a scoped layer. */
export * as DockerSandbox from "./DockerSandbox.ts"
/** A real, private, throwaway Podman API service as a scoped layer. */
export * as PodmanSandbox from "./PodmanSandbox.ts"
