/**
 * Output formats of the `whalewatcher` command: JSON documents (exact, for scripts) and aligned,
 * terminal-safe tables and lines (for people). Everything here is pure.
 *
 * @since 0.1.0
 */
import { Array as Arr } from "effect"
import { CliOutput } from "effect/cli"
import { type Container, NoProject } from "../Container.ts"
import { typeName } from "../ContainerEvent.ts"
import { byId as idOrder } from "../internal/ordering.ts"
import type { WatcherEvent } from "../Watcher.ts"
import { terminalSafe } from "./sanitize.ts"

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/**
 * A container in `ls --json`: the same fields and order as `examples/list.ts`.
 *
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
 * Sorts containers by display ID (code unit order, as `examples/list.ts` does).
 *
 * @since 0.1.0
 */
export const byId = (containers: Iterable<Container>): Array<Container> => Arr.sort(containers, idOrder)

/**
 * Labels with their keys in sorted order (code unit order), so that JSON output is stable
 * whatever order the engine sent them in.
 *
 * @since 0.1.0
 */
export const sortedLabels = (labels: Readonly<Record<string, string>>): Record<string, string> => {
  const sorted: Record<string, string> = {}
  for (const key of Object.keys(labels).sort()) sorted[key] = labels[key]!
  return sorted
}

/**
 * The `ls --json` document: one line, an array sorted by ID, label keys sorted.
 *
 * @since 0.1.0
 */
export const listJson = (containers: Iterable<Container>): string =>
  JSON.stringify(byId(containers).map(({ id, labels, name, paused, pid, project }): ListedContainer => ({
    id,
    name,
    project,
    pid,
    paused,
    labels: sortedLabels(labels)
  })))

/**
 * The `inspect --json` document: the `ls --json` fields plus the namespace, label keys sorted.
 *
 * @since 0.1.0
 */
export const inspectJson = (container: Container): string => {
  const { id, labels, name, namespace, paused, pid, project } = container
  return JSON.stringify({ id, name, project, namespace, pid, paused, labels: sortedLabels(labels) })
}

// ---------------------------------------------------------------------------------------------
// Styles
// ---------------------------------------------------------------------------------------------

/**
 * How text is emphasized: ANSI colours on a capable terminal, nothing otherwise (pipes, files,
 * `NO_COLOR`). Apply a style after padding, never before, so widths stay right.
 *
 * @since 0.1.0
 */
export interface Style {
  /** Headings. */
  readonly bold: (text: string) => string
  /** Column titles and asides. */
  readonly dim: (text: string) => string
  /** Exits and failures. */
  readonly red: (text: string) => string
  /** Starts and a live status. */
  readonly green: (text: string) => string
  /** Paused containers, pauses, syncing. */
  readonly yellow: (text: string) => string
  /** Other changes (unpaused, updated). */
  readonly cyan: (text: string) => string
}

const identity = (text: string): string => text

/**
 * No emphasis.
 *
 * @since 0.1.0
 */
export const plainStyle: Style = {
  bold: identity,
  dim: identity,
  red: identity,
  green: identity,
  yellow: identity,
  cyan: identity
}

const sgr = (code: string) => (text: string): string => (text === "" ? text : `\x1b[${code}m${text}\x1b[0m`)

/**
 * ANSI colours.
 *
 * @since 0.1.0
 */
export const ansiStyle: Style = {
  bold: sgr("1"),
  dim: sgr("2"),
  red: sgr("31"),
  green: sgr("32"),
  yellow: sgr("33"),
  cyan: sgr("36")
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/**
 * Column alignment.
 *
 * @since 0.1.0
 */
export type Align = "left" | "right"

const padTo = (text: string, width: number, align: Align): string => {
  const fill = " ".repeat(Math.max(0, width - CliOutput.displayWidth(text)))
  return align === "left" ? text + fill : fill + text
}

/**
 * Column widths for these rows (in terminal cells: wide characters count twice).
 *
 * @since 0.1.0
 */
export const columnWidths = (rows: ReadonlyArray<ReadonlyArray<string>>): Array<number> => {
  const widths: Array<number> = []
  for (const row of rows) {
    row.forEach((cell, column) => {
      widths[column] = Math.max(widths[column] ?? 0, CliOutput.displayWidth(cell))
    })
  }
  return widths
}

/**
 * One table row: cells padded to the widths, two spaces apart, without trailing blanks. Cells
 * must be terminal-safe already; `styles` emphasize whole cells after padding.
 *
 * @since 0.1.0
 */
export const tableRow = (
  cells: ReadonlyArray<string>,
  widths: ReadonlyArray<number>,
  options: {
    readonly align?: ReadonlyArray<Align> | undefined
    readonly styles?: ReadonlyArray<((text: string) => string) | undefined> | undefined
    /** Pad the last column too, e.g. when more text follows the row. */
    readonly padLast?: boolean | undefined
  } = {}
): string => {
  const last = cells.length - 1
  return cells.map((cell, column) => {
    const align = options.align?.[column] ?? "left"
    const padded = column === last && align === "left" && options.padLast !== true
      ? cell
      : padTo(cell, widths[column] ?? 0, align)
    return options.styles?.[column]?.(padded) ?? padded
  }).join("  ")
}

/**
 * Cuts a line to at most `width` terminal cells (by grapheme, so nothing is split in half),
 * marking the cut with `…`. Our own colour sequences (SGR) take no room and are kept; the line
 * must hold no other escape sequences (user text is made terminal-safe first).
 *
 * @since 0.1.0
 */
export const truncate = (line: string, width: number): string => {
  if (CliOutput.displayWidth(line) <= width) return line
  let result = ""
  let used = 0
  let styled = false
  for (const part of line.split(sgrSequence)) {
    if (sgrSequence.test(part)) {
      result += part
      styled = true
      continue
    }
    for (const { segment } of segmenter.segment(part)) {
      const cells = CliOutput.displayWidth(segment)
      if (used + cells > width - 1) return `${result}…${styled ? "\x1b[0m" : ""}`
      result += segment
      used += cells
    }
  }
  return result
}

/** One SGR sequence, captured so that `split` keeps it (a non-global regex: `test` keeps no state). */
const sgrSequence = /(\x1b\[[0-9;]*m)/

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" })

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

/**
 * The column titles of container tables.
 *
 * @since 0.1.0
 */
export const containerHeader: ReadonlyArray<string> = ["ID", "NAME", "PID", "STATE"]

const containerAlign: ReadonlyArray<Align> = ["left", "left", "right", "left"]

/**
 * A container's cells: ID, name, PID, state — terminal-safe.
 *
 * @since 0.1.0
 */
export const containerCells = (container: Container): Array<string> => [
  terminalSafe(container.id),
  terminalSafe(container.name),
  String(container.pid),
  container.paused ? "paused" : "running"
]

/**
 * Containers grouped by project: named projects sorted by name, then the containers of no
 * project; each group sorted by ID.
 *
 * @since 0.1.0
 */
export const groupByProject = (
  containers: Iterable<Container>
): Array<{ readonly project: string; readonly containers: ReadonlyArray<Container> }> => {
  const groups = new Map<string, Array<Container>>()
  for (const container of byId(containers)) {
    const group = groups.get(container.project)
    if (group === undefined) groups.set(container.project, [container])
    else group.push(container)
  }
  const names = [...groups.keys()].filter((name) => name !== NoProject).sort()
  if (groups.has(NoProject)) names.push(NoProject)
  return names.map((project) => ({ project, containers: groups.get(project)! }))
}

/**
 * The heading of a project group: `PROJECT name`, or `NO PROJECT` for containers of none.
 *
 * @since 0.1.0
 */
export const projectHeading = (project: string): string =>
  project === NoProject ? "NO PROJECT" : `PROJECT ${terminalSafe(project)}`

/**
 * A per-container note in the last column of a grouped table (e.g. a recent change), and how to
 * emphasize that row.
 *
 * @since 0.1.0
 */
export interface RowNote {
  /** The note, after the row. */
  readonly text: string
  /** Emphasis of the row and its note. */
  readonly style: (text: string) => string
}

/**
 * The alive containers as tables grouped by project (see {@link groupByProject}), columns aligned
 * across all groups, group after group separated by a blank line.
 *
 * @since 0.1.0
 */
export const groupedTable = (
  containers: Iterable<Container>,
  style: Style,
  notes: ReadonlyMap<string, RowNote> = new Map()
): Array<string> => {
  const groups = groupByProject(containers)
  const rows = groups.flatMap((group) => group.containers.map(containerCells))
  const widths = columnWidths([containerHeader, ...rows])
  const lines: Array<string> = []
  for (const group of groups) {
    if (lines.length > 0) lines.push("")
    lines.push(style.bold(projectHeading(group.project)))
    lines.push(`  ${style.dim(tableRow(containerHeader, widths, { align: containerAlign }))}`)
    for (const container of group.containers) {
      const cells = containerCells(container)
      const note = notes.get(container.id)
      lines.push(
        note === undefined
          ? `  ${tableRow(cells, widths, { align: containerAlign, styles: [undefined, undefined, undefined, container.paused ? style.yellow : undefined] })}`
          : `  ${note.style(`${tableRow(cells, widths, { align: containerAlign, padLast: true })}  ${note.text}`)}`
      )
    }
  }
  return lines
}

/**
 * A container's details for `inspect`: one `FIELD  value` line each, labels sorted by key.
 *
 * @since 0.1.0
 */
export const inspectLines = (container: Container, style: Style): Array<string> => {
  const labels = Object.keys(container.labels).sort().map((key) =>
    `${terminalSafe(key)}=${terminalSafe(container.labels[key]!)}`
  )
  const fields: Array<readonly [string, string]> = [
    ["ID", terminalSafe(container.id)],
    ["NAME", terminalSafe(container.name)],
    ["PROJECT", container.project === NoProject ? style.dim("(none)") : terminalSafe(container.project)],
    ["NAMESPACE", terminalSafe(container.namespace)],
    ["PID", String(container.pid)],
    ["STATE", container.paused ? style.yellow("paused") : "running"],
    ["LABELS", labels.length === 0 ? style.dim("(none)") : labels[0]!],
    ...labels.slice(1).map((label) => ["", label] as const)
  ]
  const width = Math.max(...fields.map(([field]) => field.length))
  return fields.map(([field, value]) => `${style.bold(field.padEnd(width))}  ${value}`.trimEnd())
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/**
 * What an event line shows.
 *
 * @since 0.1.0
 */
export interface EventFacts {
  /** `started`, `exited`, `paused`, `unpaused` or `updated`. */
  readonly type: string
  /** The container's display ID. */
  readonly id: string
  /** The container's name, when known. */
  readonly name?: string | undefined
  /** The container's compose project, when known. */
  readonly project?: string | undefined
  /** The PID, when known. */
  readonly pid?: number | undefined
  /** ISO 8601 or a clock time, as the caller prefers. */
  readonly time: string
  /** For exits: the exit status, when the engine told. */
  readonly exitStatus?: number | undefined
}

/**
 * The facts of a change the Watcher announced, for {@link eventLine}; `time` as the caller shows it.
 *
 * @since 0.1.0
 */
export const changeFacts = (event: WatcherEvent, time: string): EventFacts => ({
  type: typeName(event),
  id: event.container.id,
  name: event.container.name,
  project: event.container.project,
  pid: event.container.pid,
  time,
  exitStatus: event._tag === "Exited" ? event.exitStatus : undefined
})

const eventStyle = (type: string, style: Style): (text: string) => string =>
  type === "started"
    ? style.green
    : type === "exited"
    ? style.red
    : type === "paused"
    ? style.yellow
    : style.cyan

/**
 * One event for people: `time  type  id (name)  pid N  project P`, terminal-safe.
 *
 * @since 0.1.0
 */
export const eventLine = (event: EventFacts, style: Style = plainStyle): string => {
  const parts = [
    event.time,
    eventStyle(event.type, style)(event.type.padEnd(8)),
    terminalSafe(event.id) +
    (event.name !== undefined && event.name !== event.id ? ` (${terminalSafe(event.name)})` : "")
  ]
  if (event.pid !== undefined) parts.push(`pid ${event.pid}`)
  if (event.project !== undefined && event.project !== NoProject) parts.push(`project ${terminalSafe(event.project)}`)
  if (event.exitStatus !== undefined) parts.push(`exit status ${event.exitStatus}`)
  return parts.join("  ")
}
