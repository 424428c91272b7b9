/**
 * Decoding of containerd event envelopes into lifecycle events.
 * @internal
 */
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf"
import type { Timestamp } from "@bufbuild/protobuf/wkt"
import { DateTime } from "effect"
import { ContainerUpdateSchema } from "../../../gen/containerd/events/container_pb.ts"
import {
  TaskExitSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema
} from "../../../gen/containerd/events/task_pb.ts"
import type { Envelope } from "../../../gen/containerd/services/events/v1/events_pb.ts"
import type { ContainerEvent } from "../../ContainerEvent.ts"
import { make as displayId } from "../DisplayId.ts"
import type { LabelMappingShape } from "../LabelMapping.ts"

/** The topics a lifecycle subscription asks for. */
export const LifecycleTopics: ReadonlyArray<string> = [
  "/tasks/start",
  "/tasks/exit",
  "/tasks/paused",
  "/tasks/resumed",
  "/containers/update"
]

/**
 * Builds Subscribe filters: one string per topic (strings are OR-ed), each AND-ed with namespace
 * exclusions, or one per topic and allowed namespace. Values are quoted: containerd does not match
 * unquoted values that contain `/`.
 */
export const subscribeFilters = (
  topics: ReadonlyArray<string>,
  namespaces: { readonly ignored?: ReadonlyArray<string> | undefined; readonly only?: ReadonlyArray<string> | undefined }
): Array<string> => {
  const quote = (value: string) => JSON.stringify(value)
  if (namespaces.only !== undefined) {
    return topics.flatMap((topic) =>
      namespaces.only!.map((namespace) => `topic==${quote(topic)},namespace==${quote(namespace)}`)
    )
  }
  const exclusions = (namespaces.ignored ?? []).map((namespace) => `,namespace!=${quote(namespace)}`).join("")
  return topics.map((topic) => `topic==${quote(topic)}${exclusions}`)
}

/** The message name of an Any's type URL: containerd 1.6 sends it bare, newer ones may prefix it. */
export const typeNameOf = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf("/") + 1)

const timestampToDateTime = (timestamp: Timestamp | undefined): DateTime.Utc =>
  timestamp === undefined
    ? DateTime.nowUnsafe()
    : DateTime.makeUnsafe(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1_000_000))

const decode = <Desc extends DescMessage>(schema: Desc, envelope: Envelope): MessageShape<Desc> | undefined =>
  envelope.event !== undefined && typeNameOf(envelope.event.typeUrl) === schema.typeName
    ? fromBinary(schema, envelope.event.value)
    : undefined

/** Why an envelope produced no lifecycle event. */
export type Skipped = "ignored" | "unknown" | "garbled" | "exec-exit"

/**
 * Turns an envelope into a lifecycle event, or says why not. Throws nothing: a payload that does
 * not decode is `garbled`, a type the topic does not fit is `unknown`.
 */
export const decodeEnvelope = (
  envelope: Envelope,
  mapping: LabelMappingShape
): ContainerEvent | Skipped => {
  const namespace = envelope.namespace
  const timestamp = timestampToDateTime(envelope.timestamp)
  try {
    switch (envelope.topic) {
      case "/tasks/start": {
        const event = decode(TaskStartSchema, envelope)
        if (event === undefined || event.containerId === "") return "unknown"
        return { _tag: "Started", timestamp, id: displayId(namespace, event.containerId), namespace, pid: event.pid }
      }
      case "/tasks/exit": {
        const event = decode(TaskExitSchema, envelope)
        if (event === undefined || event.containerId === "") return "unknown"
        // Every process's exit is published; only the init process's exit ends the container.
        if (event.id !== "" && event.id !== event.containerId) return "exec-exit"
        return {
          _tag: "Exited",
          timestamp,
          id: displayId(namespace, event.containerId),
          namespace,
          pid: event.pid === 0 ? undefined : event.pid,
          exitStatus: event.exitStatus
        }
      }
      case "/tasks/paused": {
        const event = decode(TaskPausedSchema, envelope)
        if (event === undefined || event.containerId === "") return "unknown"
        return { _tag: "Paused", timestamp, id: displayId(namespace, event.containerId), namespace }
      }
      case "/tasks/resumed": {
        const event = decode(TaskResumedSchema, envelope)
        if (event === undefined || event.containerId === "") return "unknown"
        return { _tag: "Unpaused", timestamp, id: displayId(namespace, event.containerId), namespace }
      }
      case "/containers/update": {
        const event = decode(ContainerUpdateSchema, envelope)
        if (event === undefined || event.id === "") return "unknown"
        return {
          _tag: "Updated",
          timestamp,
          id: displayId(namespace, event.id),
          namespace,
          labels: event.labels,
          name: mapping.name(namespace, event.id, event.labels),
          project: mapping.project(namespace, event.labels)
        }
      }
      default:
        return "unknown"
    }
  } catch {
    return "garbled"
  }
}
