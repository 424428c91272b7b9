/**
 * Lifecycle events of containers as an engine reports them: a tagged union of
 * `Started | Exited | Paused | Unpaused`, plus `Updated` for label changes (which may change a
 * container's name or project).
 *
 * Engine events are thin: containerd's task events carry no labels, so `project` and `name` are
 * `undefined` (unknown) unless the engine knows them. The Watcher turns these into events that
 * carry the whole {@link Container.Container}.
 *
 * @since 0.1.0
 */
import { DateTime, Schema } from "effect"

/**
 * What every lifecycle event carries.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventBase {
  /** When the engine says it happened (containerd: the envelope's timestamp). */
  readonly timestamp: DateTime.Utc
  /** The container's display ID. */
  readonly id: string
  /** The engine namespace ("" for engines without namespaces). */
  readonly namespace: string
  /** The compose project, or `undefined` when the event does not tell (containerd task events). */
  readonly project?: string | undefined
  /** The container's name, when the event tells. */
  readonly name?: string | undefined
}

/**
 * The container's initial process started: it is alive now.
 *
 * @category models
 * @since 0.1.0
 */
export interface Started extends EventBase {
  /** The event type. */
  readonly _tag: "Started"
  /** PID of the initial process. */
  readonly pid: number
}

/**
 * The container's initial process exited: it is not alive any more. (Exits of exec'd processes
 * are never reported as container exits.)
 *
 * @category models
 * @since 0.1.0
 */
export interface Exited extends EventBase {
  /** The event type. */
  readonly _tag: "Exited"
  /** PID of the initial process that exited, when the engine tells. */
  readonly pid?: number | undefined
  /** The initial process's exit status, when the engine tells. */
  readonly exitStatus?: number | undefined
}

/**
 * The container was paused.
 *
 * @category models
 * @since 0.1.0
 */
export interface Paused extends EventBase {
  /** The event type. */
  readonly _tag: "Paused"
}

/**
 * The container was resumed.
 *
 * @category models
 * @since 0.1.0
 */
export interface Unpaused extends EventBase {
  /** The event type. */
  readonly _tag: "Unpaused"
}

/**
 * The container's labels changed (containerd: `/containers/update`); `name` and `project` are
 * derived from the new labels by the engine's label mapping.
 *
 * @category models
 * @since 0.1.0
 */
export interface Updated extends EventBase {
  /** The event type. */
  readonly _tag: "Updated"
  /** The container's labels after the change. */
  readonly labels: Readonly<Record<string, string>>
  /** The container's name after the change. */
  readonly name: string
  /** The container's compose project after the change ("" for none). */
  readonly project: string
}

/**
 * Any lifecycle event.
 *
 * @category models
 * @since 0.1.0
 */
export type ContainerEvent = Started | Exited | Paused | Unpaused | Updated

const base = {
  timestamp: Schema.DateTimeUtc,
  id: Schema.String,
  namespace: Schema.String,
  project: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String)
}

/**
 * The Schema of {@link ContainerEvent} (timestamps as `DateTime.Utc` values).
 *
 * @category schemas
 * @since 0.1.0
 */
export const ContainerEvent: Schema.Codec<ContainerEvent> = Schema.Union([
  Schema.TaggedStruct("Started", { ...base, pid: Schema.Number }),
  Schema.TaggedStruct("Exited", {
    ...base,
    pid: Schema.optional(Schema.Number),
    exitStatus: Schema.optional(Schema.Number)
  }),
  Schema.TaggedStruct("Paused", base),
  Schema.TaggedStruct("Unpaused", base),
  Schema.TaggedStruct("Updated", {
    ...base,
    labels: Schema.Record(Schema.String, Schema.String),
    name: Schema.String,
    project: Schema.String
  })
])

/**
 * The lower-case type name used in JSON output: `started`, `exited`, `paused`, `unpaused`, `updated`.
 *
 * @category getters
 * @since 0.1.0
 */
export const typeName = (event: { readonly _tag: ContainerEvent["_tag"] }): string => event._tag.toLowerCase()

/**
 * The event's timestamp as an ISO 8601 string.
 *
 * @category getters
 * @since 0.1.0
 */
export const isoTimestamp = (event: { readonly timestamp: DateTime.Utc }): string => DateTime.formatIso(event.timestamp)
