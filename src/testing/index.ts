/**
 * Test support for apps built on effect-whalewatcher: fakes to inject as mock layers, and a real,
 * private containerd for integration tests.
 *
 * @since 0.1.0
 */
export * as FakeContainerd from "./FakeContainerd.ts"
export * as ContainerdSandbox from "./ContainerdSandbox.ts"
export * as FakeEngine from "./FakeEngine.ts"
