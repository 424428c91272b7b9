/**
 * Which containerd namespaces the engine client watches. By default every namespace except those
 * whose containers other engine clients describe better: `moby` (Docker: names and compose labels
 * exist only in Docker's API), `plugins.moby` (Docker plugins) and `k8s.io` (Kubernetes CRI).
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"

/**
 * containerd's namespace for Docker's containers (and tasks).
 *
 * @category constants
 * @since 0.1.0
 */
export const DockerNamespace = "moby"

/**
 * containerd's namespace for Docker's managed plugins.
 *
 * @category constants
 * @since 0.1.0
 */
export const DockerPluginsNamespace = "plugins.moby"

/**
 * containerd's namespace for Kubernetes (CRI) containers.
 *
 * @category constants
 * @since 0.1.0
 */
export const KubernetesNamespace = "k8s.io"

/**
 * The namespaces ignored by default.
 *
 * @category constants
 * @since 0.1.0
 */
export const DefaultIgnoredNamespaces: ReadonlyArray<string> = [
  DockerNamespace,
  DockerPluginsNamespace,
  KubernetesNamespace
]

/**
 * A namespace filter. `ignored` / `only` also let the engine filter events on the server side.
 *
 * @category models
 * @since 0.1.0
 */
export interface NamespaceFilterShape {
  /** True when containers in `namespace` are watched. */
  readonly allows: (namespace: string) => boolean
  /** Namespaces never watched (all others are), when the filter is of that kind. */
  readonly ignored?: ReadonlyArray<string> | undefined
  /** The only namespaces watched, when the filter is of that kind. */
  readonly only?: ReadonlyArray<string> | undefined
}

/**
 * The namespace filter service.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { ContainerdEngine, NamespaceFilter } from "effect-whalewatcher/containerd"
 *
 * // watch only two namespaces
 * const engine = ContainerdEngine.layerConfig().pipe(
 *   Layer.provide(NamespaceFilter.only(["default", "shop"]))
 * )
 * ```
 * @category services
 * @since 0.1.0
 */
export const NamespaceFilter: Context.Service<NamespaceFilter, NamespaceFilterShape> = Context.Service<
  NamespaceFilter,
  NamespaceFilterShape
>("effect-whalewatcher/containerd/NamespaceFilter")

/**
 * The identifier type of the {@link NamespaceFilter} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface NamespaceFilter {
  /** Brands the identifier type; no value has it. */
  readonly _: unique symbol
}

/**
 * A filter that watches every namespace except `ignored`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeIgnoring = (ignored: Iterable<string>): NamespaceFilterShape => {
  const set = new Set(ignored)
  return { allows: (namespace) => !set.has(namespace), ignored: [...set] }
}

/**
 * A filter that watches only the `allowed` namespaces.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeOnly = (allowed: Iterable<string>): NamespaceFilterShape => {
  const set = new Set(allowed)
  return { allows: (namespace) => set.has(namespace), only: [...set] }
}

/**
 * The default: every namespace except {@link DefaultIgnoredNamespaces}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<NamespaceFilter> = Layer.succeed(NamespaceFilter, makeIgnoring(DefaultIgnoredNamespaces))

/**
 * Replaces the ignored list (an empty list watches every namespace).
 *
 * @category layers
 * @since 0.1.0
 */
export const ignoring = (namespaces: Iterable<string>): Layer.Layer<NamespaceFilter> =>
  Layer.succeed(NamespaceFilter, makeIgnoring(namespaces))

/**
 * Ignores these namespaces in addition to {@link DefaultIgnoredNamespaces}.
 *
 * @category layers
 * @since 0.1.0
 */
export const ignoringAlso = (namespaces: Iterable<string>): Layer.Layer<NamespaceFilter> =>
  Layer.succeed(NamespaceFilter, makeIgnoring([...DefaultIgnoredNamespaces, ...namespaces]))

/**
 * Watches only these namespaces.
 *
 * @category layers
 * @since 0.1.0
 */
export const only = (namespaces: Iterable<string>): Layer.Layer<NamespaceFilter> =>
  Layer.succeed(NamespaceFilter, makeOnly(namespaces))
