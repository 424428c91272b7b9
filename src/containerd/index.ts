/**
 * The containerd engine client and its parts: the connection, the namespace filter, the label
 * mapping and the optional enricher, each a service with its layers.
 *
 * @since 0.1.0
 */
export * as ContainerdConnection from "./ContainerdConnection.ts"
export * as ContainerdEngine from "./ContainerdEngine.ts"
export * as ContainerdEnricher from "./ContainerdEnricher.ts"
export * as LabelMapping from "./LabelMapping.ts"
export * as NamespaceFilter from "./NamespaceFilter.ts"

/**
 * The seed's constants, under the names the Go original uses.
 *
 * @since 0.1.0
 */
export { ComposerProjectLabel, NerdctlLabelPrefix, NerdctlNameLabel } from "./LabelMapping.ts"
export { DockerNamespace } from "./NamespaceFilter.ts"
export { Type } from "./ContainerdEngine.ts"
