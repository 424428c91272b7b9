/**
 * The Container model: what the watcher knows about one alive container.
 *
 * A container is alive while it has its initial process, running or paused. Values are plain,
 * immutable objects (cheap to create, compare and serialize); {@link Container} is also an
 * Effect Schema for decoding and encoding them at boundaries.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * One alive container.
 *
 * @category models
 * @since 0.1.0
 */
export interface Container {
  /**
   * The display ID: unique per engine. For containerd, the container id in namespace `default`,
   * else `namespace/id`.
   */
  readonly id: string
  /** A name for people: e.g. nerdctl's name label; the display ID when the container has none. */
  readonly name: string
  /** The container's labels (never null: an empty object when it has none). */
  readonly labels: Readonly<Record<string, string>>
  /** PID of the initial process, in the engine's PID namespace. */
  readonly pid: number
  /** The compose project the container belongs to, "" for none. */
  readonly project: string
  /** True while the container is paused (containerd: PAUSING or PAUSED). */
  readonly paused: boolean
  /** The engine namespace the container lives in ("" for engines without namespaces). */
  readonly namespace: string
  /** Application data attached by an enricher (the original's "rucksack"), when one is configured. */
  readonly enrichment?: unknown
}

/**
 * The Schema of {@link Container}, e.g. to decode containers from JSON.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Container: Schema.Codec<Container> = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  labels: Schema.Record(Schema.String, Schema.String),
  pid: Schema.Number,
  project: Schema.String,
  paused: Schema.Boolean,
  namespace: Schema.String,
  enrichment: Schema.optionalKey(Schema.Unknown)
})

/**
 * The project name of containers that belong to no compose project.
 *
 * @category constants
 * @since 0.1.0
 */
export const NoProject = ""

/**
 * A copy with some fields changed.
 *
 * @category transforming
 * @since 0.1.0
 */
export const update = (container: Container, changes: Partial<Container>): Container => ({ ...container, ...changes })

/**
 * True when two containers describe the same state (enrichment is compared by reference).
 *
 * @category predicates
 * @since 0.1.0
 */
export const equals = (a: Container, b: Container): boolean =>
  a === b ||
  (a.id === b.id && a.name === b.name && a.pid === b.pid && a.project === b.project &&
    a.paused === b.paused && a.namespace === b.namespace && a.enrichment === b.enrichment &&
    labelsEqual(a.labels, b.labels))

/**
 * True when two label sets are equal.
 *
 * @category predicates
 * @since 0.1.0
 */
export const labelsEqual = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  if (a === b) return true
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const key of keys) if (a[key] !== b[key] || !Object.hasOwn(b, key)) return false
  return true
}
