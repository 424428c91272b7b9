/**
 * Decoding the Docker Engine API's event lines (Docker and Podman's compat API) into lifecycle
 * events, and the server-side filter that asks for them.
 * @internal
 */
import { DateTime, Option, Schema } from "effect"
import type { ContainerEvent } from "../../ContainerEvent.ts"

/**
 * The container actions a watcher needs. Podman 4.3 matches filters against its own names ("died"
 * for a death, which it still sends as "die"); Docker accepts names it does not know.
 */
export const LifecycleActions: ReadonlyArray<string> = ["start", "die", "died", "pause", "unpause", "rename"]

/** The `filters` query parameter of the event stream. */
export const eventFilters: string = JSON.stringify({ type: ["container"], event: LifecycleActions })

/** Why a line was skipped. */
export type Skipped = "ignored" | "exec-exit" | "unknown" | "garbled"

const EventLine = Schema.Struct({
  Type: Schema.optional(Schema.String),
  Action: Schema.optional(Schema.String),
  status: Schema.optional(Schema.String),
  Actor: Schema.optional(Schema.Struct({
    ID: Schema.optional(Schema.String),
    Attributes: Schema.optional(Schema.NullOr(Schema.Record(Schema.String, Schema.String)))
  })),
  id: Schema.optional(Schema.String),
  time: Schema.optional(Schema.Number)
})

const decodeLine = Schema.decodeUnknownOption(Schema.fromJsonString(EventLine))

// timeNano is larger than 2^53: JSON.parse would round it, so its digits are read from the text.
const timeNanoPattern = /"timeNano"\s*:\s*(\d+)/

/** A rename, to be completed with the container's labels (the event's attributes mix them with others). */
export interface Renamed {
  readonly _tag: "Renamed"
  readonly id: string
  readonly name: string
  readonly timestamp: DateTime.Utc
}

/** What one line gives. */
export type Decoded = ContainerEvent | Renamed | Skipped

/** The event's time in nanoseconds since the epoch, exact, or undefined if it has none. */
export const timeNanoOf = (line: string): bigint | undefined => {
  const match = timeNanoPattern.exec(line)
  return match?.[1] === undefined ? undefined : BigInt(match[1])
}

/** Decodes one line of `/events`. `projectLabel` names the compose project label. */
export const decodeEventLine = (line: string, projectLabel: string): Decoded => {
  const decoded = decodeLine(line)
  if (Option.isNone(decoded)) return "garbled"
  const event = decoded.value
  const type = event.Type ?? "container"
  if (type !== "container") return "ignored"
  const action = event.Action ?? event.status
  const id = event.Actor?.ID ?? event.id
  if (action === undefined || id === undefined || id === "") return "garbled"
  const nanos = timeNanoOf(line)
  const timestamp = DateTime.makeUnsafe(
    nanos !== undefined ? Number(nanos / 1_000_000n) : Math.round((event.time ?? 0) * 1000)
  )
  const attributes = event.Actor?.Attributes ?? {}
  const name = attributes["name"]
  const base = { timestamp, id, namespace: "", ...(name === undefined ? {} : { name }) }
  const project = attributes[projectLabel]
  const withProject = project === undefined ? base : { ...base, project }
  // An exec's end is exec_die (Podman: exec_died); a health check is an exec too. Never a container exit.
  if (action.startsWith("exec_")) return "exec-exit"
  switch (action) {
    case "start":
      // The event carries no PID: resolveStarted inspects the container.
      return { _tag: "Started", ...withProject, pid: 0 }
    case "die":
    case "died": {
      const exitCode = Number(attributes["exitCode"] ?? attributes["containerExitCode"])
      return { _tag: "Exited", ...withProject, ...(Number.isInteger(exitCode) ? { exitStatus: exitCode } : {}) }
    }
    case "pause":
      return { _tag: "Paused", ...withProject }
    case "unpause":
      return { _tag: "Unpaused", ...withProject }
    case "rename":
      return name === undefined ? "garbled" : { _tag: "Renamed", id, name, timestamp }
    default:
      return "unknown"
  }
}

/**
 * A daemon timestamp (RFC 3339 with up to nanoseconds, as `/info`'s SystemTime) as the
 * `seconds.nanoseconds` text that `since` takes; undefined when it does not parse.
 */
export const sinceParameter = (systemTime: string): string | undefined => {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(systemTime.trim())
  if (match === null) return undefined
  const millis = Date.parse(`${match[1]}${match[3]}`)
  if (Number.isNaN(millis)) return undefined
  return `${Math.floor(millis / 1000)}.${(match[2] ?? "").padEnd(9, "0")}`
}
