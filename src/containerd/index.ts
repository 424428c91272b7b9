/**
 * The containerd engine client and its parts: the connection, the namespace filter, the label
 * mapping and the optional enricher, each a service with its layers.
 *
 * @since 0.1.0
 */
/** The connection to one containerd: its socket, session, typed clients and errors. */
export * as ContainerdConnection from "./ContainerdConnection.ts"
/** The containerd EngineClient: list, inspect and lifecycle events. */
export * as ContainerdEngine from "./ContainerdEngine.ts"
/** Display IDs: a container's id, prefixed with `namespace/` outside the default namespace. */
export * as DisplayId from "./DisplayId.ts"
/** The optional hook that attaches application data to containers. */
export * as ContainerdEnricher from "./ContainerdEnricher.ts"
/** How labels become a container's name and compose project. */
export * as LabelMapping from "./LabelMapping.ts"
/** Which containerd namespaces are watched. */
export * as NamespaceFilter from "./NamespaceFilter.ts"

/**
 * Constants under the names the Go original uses.
 *
 * @since 0.1.0
 */
export { ComposerProjectLabel, NerdctlLabelPrefix, NerdctlNameLabel } from "./LabelMapping.ts"
export { DockerNamespace } from "./NamespaceFilter.ts"
export { Type } from "./ContainerdEngine.ts"
