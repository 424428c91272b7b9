/**
 * How a containerd container's labels become its name and compose project. The default follows
 * nerdctl and compose: the name from `nerdctl/name` (shown as `namespace/name` outside the
 * `default` namespace, like display IDs: see {@link DisplayId}), the project from
 * `com.docker.compose.project`.
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
import * as DisplayId from "./DisplayId.ts"

/**
 * The label key prefix nerdctl uses for its own labels.
 *
 * @category constants
 * @since 0.1.0
 */
export const NerdctlLabelPrefix = "nerdctl/"

/**
 * The label in which nerdctl stores a container's name (as opposed to its ID).
 *
 * @category constants
 * @since 0.1.0
 */
export const NerdctlNameLabel = `${NerdctlLabelPrefix}name`

/**
 * The label naming the compose project a container is part of.
 *
 * @category constants
 * @since 0.1.0
 */
export const ComposerProjectLabel = "com.docker.compose.project"

/**
 * The namespace in which display IDs and names carry no namespace prefix (the same as
 * {@link DisplayId.DefaultNamespace}).
 *
 * @category constants
 * @since 0.1.0
 */
export const DefaultNamespace: "default" = DisplayId.DefaultNamespace

/**
 * A label mapping.
 *
 * @category models
 * @since 0.1.0
 */
export interface LabelMappingShape {
  /** The container's name, given its namespace, id and labels. */
  readonly name: (namespace: string, id: string, labels: Readonly<Record<string, string>>) => string
  /** The container's compose project ("" for none), given its namespace and labels. */
  readonly project: (namespace: string, labels: Readonly<Record<string, string>>) => string
}

/**
 * The label mapping service.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { ContainerdEngine, LabelMapping } from "effect-whalewatcher/containerd"
 *
 * // names from an "app.name" label, projects from "app.stack"
 * const engine = ContainerdEngine.layerConfig().pipe(
 *   Layer.provide(LabelMapping.fromLabels({ nameLabel: "app.name", projectLabel: "app.stack" }))
 * )
 * ```
 * @category services
 * @since 0.1.0
 */
export const LabelMapping: Context.Service<LabelMapping, LabelMappingShape> = Context.Service<
  LabelMapping,
  LabelMappingShape
>("effect-whalewatcher/containerd/LabelMapping")

/**
 * The identifier type of the {@link LabelMapping} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface LabelMapping {
  /** Brands the identifier type; no value has it. */
  readonly _: unique symbol
}

/**
 * The display ID of a container: its id in the `default` namespace, else `namespace/id`.
 *
 * @deprecated Use {@link DisplayId.make}; the display-ID helpers live in their own module.
 * @category constructors
 * @since 0.1.0
 */
export const displayId: (namespace: string, id: string) => string = DisplayId.make

/**
 * Splits a display ID (or a name of the same form) into namespace and id.
 *
 * @deprecated Use {@link DisplayId.parse}; the display-ID helpers live in their own module.
 * @category parsing
 * @since 0.1.0
 */
export const parseDisplayId: (displayIdOrName: string) => DisplayId.Parts = DisplayId.parse

/**
 * A mapping that reads the name and project from the given labels; a container without the name
 * label is named by its display ID.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: { readonly nameLabel?: string | undefined; readonly projectLabel?: string | undefined } = {}
): LabelMappingShape => {
  const nameLabel = options.nameLabel ?? NerdctlNameLabel
  const projectLabel = options.projectLabel ?? ComposerProjectLabel
  return {
    name: (namespace, id, labels) => {
      const name = labels[nameLabel]
      return DisplayId.make(namespace, name === undefined || name === "" ? id : name)
    },
    project: (_namespace, labels) => labels[projectLabel] ?? ""
  }
}

/**
 * The default mapping (nerdctl name, compose project).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<LabelMapping> = Layer.succeed(LabelMapping, make())

/**
 * A mapping from other labels.
 *
 * @category layers
 * @since 0.1.0
 */
export const fromLabels = (
  options: { readonly nameLabel?: string | undefined; readonly projectLabel?: string | undefined }
): Layer.Layer<LabelMapping> => Layer.succeed(LabelMapping, make(options))

/**
 * A mapping of your own.
 *
 * @category layers
 * @since 0.1.0
 */
export const custom = (mapping: LabelMappingShape): Layer.Layer<LabelMapping> => Layer.succeed(LabelMapping, mapping)
