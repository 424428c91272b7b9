/**
 * The JSON documents of the `whalewatcher` command, its contract with scripts: the `ls --json`
 * array, the `inspect --json` object, the `events --json` lines and the `watch --json` lines.
 * The example programs print the same documents. Fields come in the order shown here (the order
 * `JSON.stringify` keeps), label keys sorted. Values are never made terminal-safe: JSON output
 * must stay exact, and `JSON.stringify` already escapes control characters.
 *
 * @since 0.1.0
 */
import { Array as Arr } from "effect"
import { byId as idOrder } from "../internal/ordering.ts"
import type { Container } from "../Container.ts"
import { type ContainerEvent, isoTimestamp, typeName } from "../ContainerEvent.ts"
import * as Portfolio from "../Portfolio.ts"
import type { WatcherEvent } from "../Watcher.ts"

/**
 * Sorts containers by display ID (code unit order), the order of `ls --json` and of every table.
 *
 * @category ordering
 * @since 0.1.0
 */
export const byId = (containers: Iterable<Container>): Array<Container> => Arr.sort(containers, idOrder)

/**
 * Labels with their keys in sorted order (code unit order), so that JSON output is stable
 * whatever order the engine sent them in.
 *
 * @category ordering
 * @since 0.1.0
 */
export const sortedLabels = (labels: Readonly<Record<string, string>>): Record<string, string> => {
  const sorted: Record<string, string> = {}
  for (const key of Object.keys(labels).sort()) sorted[key] = labels[key]!
  return sorted
}

// ---------------------------------------------------------------------------------------------
// ls and inspect
// ---------------------------------------------------------------------------------------------

/**
 * A container in `ls --json`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ListedContainer {
  /** The display ID. */
  readonly id: string
  /** The name. */
  readonly name: string
  /** The compose project, `""` for none. */
  readonly project: string
  /** The initial process's PID. */
  readonly pid: number
  /** Whether it is paused. */
  readonly paused: boolean
  /** All its labels. */
  readonly labels: Readonly<Record<string, string>>
}

/**
 * The `ls --json` document: the containers sorted by ID, label keys sorted.
 *
 * @category formatting
 * @since 0.1.0
 */
export const listJson = (containers: Iterable<Container>): Array<ListedContainer> =>
  byId(containers).map(({ id, labels, name, paused, pid, project }) => ({
    id,
    name,
    project,
    pid,
    paused,
    labels: sortedLabels(labels)
  }))

/**
 * A container in `inspect --json`: the `ls --json` fields plus the namespace.
 *
 * @category models
 * @since 0.1.0
 */
export interface InspectedContainer {
  /** The display ID. */
  readonly id: string
  /** The name. */
  readonly name: string
  /** The compose project, `""` for none. */
  readonly project: string
  /** The engine namespace (`""` for engines without namespaces). */
  readonly namespace: string
  /** The initial process's PID. */
  readonly pid: number
  /** Whether it is paused. */
  readonly paused: boolean
  /** All its labels. */
  readonly labels: Readonly<Record<string, string>>
}

/**
 * The `inspect --json` document, label keys sorted.
 *
 * @category formatting
 * @since 0.1.0
 */
export const inspectJson = (container: Container): InspectedContainer => {
  const { id, labels, name, namespace, paused, pid, project } = container
  return { id, name, project, namespace, pid, paused, labels: sortedLabels(labels) }
}

// ---------------------------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------------------------

/**
 * An event in `events --json` (`name` and `project` only when known, `pid` when the event or
 * the container tells).
 *
 * @category models
 * @since 0.1.0
 */
export interface EventJson {
  /** `started`, `exited`, `paused`, `unpaused` or `updated`. */
  readonly type: string
  /** The container's display ID. */
  readonly id: string
  /** The container's name, when known. */
  readonly name?: string
  /** The container's compose project (`""` for none), when known. */
  readonly project?: string
  /** The initial process's PID, when known. */
  readonly pid?: number
  /** The engine's timestamp, ISO 8601. */
  readonly timestamp: string
}

/**
 * The `events --json` line of an engine event, given what is known about its container.
 *
 * @category formatting
 * @since 0.1.0
 */
export const eventJson = (event: ContainerEvent, container: Container | undefined): EventJson => {
  const pid = "pid" in event && event.pid !== undefined ? event.pid : container?.pid
  // What the container tells, else what the event itself tells (Docker's events carry the name
  // and labels: a container that died before it could be looked up still has them).
  const name = container?.name ?? event.name
  const project = container?.project ?? event.project
  return {
    type: typeName(event),
    id: event.id,
    ...(name === undefined ? {} : { name }),
    ...(project === undefined ? {} : { project }),
    ...(pid === undefined ? {} : { pid }),
    timestamp: isoTimestamp(event)
  }
}

// ---------------------------------------------------------------------------------------------
// watch
// ---------------------------------------------------------------------------------------------

/**
 * The first line of `watch --json`, once the first sync is done.
 *
 * @category models
 * @since 0.1.0
 */
export interface WatchReadyJson {
  /** Always `ready`. */
  readonly type: "ready"
  /** How many containers are alive. */
  readonly containers: number
}

/**
 * The ready line of a portfolio.
 *
 * @category formatting
 * @since 0.1.0
 */
export const watchReadyJson = (portfolio: Portfolio.Portfolio): WatchReadyJson => ({
  type: "ready",
  containers: Portfolio.size(portfolio)
})

/**
 * A change in `watch --json`, after the ready line.
 *
 * @category models
 * @since 0.1.0
 */
export interface WatchEventJson {
  /** `started`, `exited`, `paused`, `unpaused` or `updated`. */
  readonly type: string
  /** The container's display ID. */
  readonly id: string
  /** The container's name. */
  readonly name: string
  /** The container's compose project, `""` for none. */
  readonly project: string
  /** The initial process's PID (for `exited`: the one that ended). */
  readonly pid: number
  /** Whether the container is paused after the change. */
  readonly paused: boolean
}

/**
 * The `watch --json` line of an announced change.
 *
 * @category formatting
 * @since 0.1.0
 */
export const watchEventJson = (event: WatcherEvent): WatchEventJson => {
  const { id, name, paused, pid, project } = event.container
  return { type: typeName(event), id, name, project, pid, paused }
}
