/**
 * The containerd engine: its connection, and (soon) the engine client built on it.
 *
 * @since 0.1.0
 */
export * as ContainerdConnection from "./ContainerdConnection.ts"
