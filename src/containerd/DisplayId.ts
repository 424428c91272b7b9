/**
 * Display IDs of containerd containers: the container's id in the `default` namespace, else
 * `namespace/id`. containerd ids never contain `/`, so a display ID is unique across the
 * namespaces of one containerd and tells both parts back. Names take the same form (see
 * LabelMapping), so that `shop/db` finds a container by name or by ID alike.
 *
 * @example
 * ```ts
 * import { DisplayId } from "effect-whalewatcher/containerd"
 *
 * DisplayId.make("default", "web") // "web"
 * DisplayId.make("shop", "db") // "shop/db"
 * DisplayId.parse("shop/db") // { namespace: "shop", id: "db" }
 * ```
 * @since 0.1.0
 */

/**
 * The namespace in which display IDs and names carry no namespace prefix.
 *
 * @category constants
 * @since 0.1.0
 */
export const DefaultNamespace = "default"

/**
 * The two parts of a display ID.
 *
 * @category models
 * @since 0.1.0
 */
export interface Parts {
  /** The containerd namespace. */
  readonly namespace: string
  /** The container's id (or name) within the namespace. */
  readonly id: string
}

/**
 * The display ID of the container `id` in `namespace`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (namespace: string, id: string): string =>
  namespace === DefaultNamespace ? id : `${namespace}/${id}`

/**
 * Splits a display ID (or a name of the same form) into namespace and id; without a `/`, the
 * namespace is {@link DefaultNamespace}.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parse = (displayIdOrName: string): Parts => {
  const slash = displayIdOrName.indexOf("/")
  return slash < 0
    ? { namespace: DefaultNamespace, id: displayIdOrName }
    : { namespace: displayIdOrName.slice(0, slash), id: displayIdOrName.slice(slash + 1) }
}
