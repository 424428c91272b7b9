/**
 * Namespace options as plain values (ContainerdEngine.layerConfig's, the CLI's flags) turned into
 * a namespace filter: the one place that decides what they mean together.
 * @internal
 */
import type { Layer } from "effect"
import * as NamespaceFilter from "../NamespaceFilter.ts"

export interface NamespaceOptions {
  /** Watch only these namespaces; the other options then do not count. */
  readonly only?: ReadonlyArray<string> | undefined
  /** Replace the namespaces ignored by default (moby, plugins.moby, k8s.io). */
  readonly ignore?: ReadonlyArray<string> | undefined
  /** Ignore these too: besides `ignore`, or else besides the default ones. */
  readonly ignoreAlso?: ReadonlyArray<string> | undefined
}

export const namespaceFilterOf = (options: NamespaceOptions): Layer.Layer<NamespaceFilter.NamespaceFilter> =>
  options.only !== undefined
    ? NamespaceFilter.only(options.only)
    : options.ignore !== undefined
    ? NamespaceFilter.ignoring([...options.ignore, ...(options.ignoreAlso ?? [])])
    : NamespaceFilter.ignoringAlso(options.ignoreAlso ?? [])
