/**
 * What `whalewatcher watch` draws on a terminal: a status line, the portfolio grouped by project
 * with recently changed containers highlighted, and the latest events — fitted to the terminal so
 * that each frame overwrites the previous one in place. Pure: the caller supplies the clock.
 *
 * @since 0.1.0
 */
import { DateTime } from "effect"
import { NoProject } from "../Container.ts"
import { typeName } from "../ContainerEvent.ts"
import * as Portfolio from "../Portfolio.ts"
import type * as Watcher from "../Watcher.ts"
import { engineFacts, type EngineKind } from "./EngineKind.ts"
import { engineProblem } from "./FailureReport.ts"
import { terminalSafe } from "./Sanitize.ts"
import { changeFacts, eventLine, eventStyle, groupByProject, groupedTable, type RowNote, type Style, truncate } from "./TextOutput.ts"

/**
 * How long a changed container stays highlighted.
 *
 * @category constants
 * @since 0.1.0
 */
export const highlightMillis = 10_000

/**
 * How many recent events the screen keeps.
 *
 * @category constants
 * @since 0.1.0
 */
export const recentEventCount = 8

/**
 * Everything one frame shows.
 *
 * @category models
 * @since 0.1.0
 */
export interface ScreenState {
  /** The engine, named in the status line. */
  readonly engine: EngineKind
  /** The engine's address, shown in the status line. */
  readonly address: string
  /** The alive containers. */
  readonly portfolio: Portfolio.Portfolio
  /** What the watcher is doing. */
  readonly status: Watcher.Status
  /** The latest events, oldest first, each with the (epoch) milliseconds it arrived at. */
  readonly recent: ReadonlyArray<{ readonly event: Watcher.WatcherEvent; readonly arrivedAt: number }>
  /** Now, in epoch milliseconds. */
  readonly now: number
  /** The terminal's width, in cells. */
  readonly columns: number
  /** The terminal's height, in lines. */
  readonly rows: number
}

/**
 * A clock time for people, `HH:MM:SS` in the local time zone.
 *
 * @category formatting
 * @since 0.1.0
 */
export const clockTime = (epochMillis: number): string => {
  const date = new Date(epochMillis)
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":")
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? "" : "s"}`

/**
 * The status line: what the watcher is doing (first: a narrow terminal cuts the end), and where.
 *
 * @category formatting
 * @since 0.1.0
 */
export const statusLine = (state: ScreenState, style: Style): string => {
  const where = `${engineFacts[state.engine].name} at ${terminalSafe(state.address)}`
  const status = state.status
  switch (status._tag) {
    case "Syncing":
      return `${style.bold("whalewatcher")}  ${
        style.yellow(status.attempt === 1 ? "syncing…" : `syncing… (attempt ${status.attempt})`)
      }  ${where}`
    case "Live":
      return `${style.bold("whalewatcher")}  ${
        style.green(`live since ${clockTime(DateTime.toEpochMillis(status.since))}`)
      }  ${where}`
    case "Retrying": {
      const seconds = Math.max(0, Math.ceil((DateTime.toEpochMillis(status.nextAttemptAt) - state.now) / 1000))
      const problem = engineProblem(status.error, { engine: state.engine })
      return `${style.bold("whalewatcher")}  ${
        style.red(`${terminalSafe(problem)}; retrying in ${seconds}s (attempt ${status.attempt})…`)
      }`
    }
    case "Stopped":
      return `${style.bold("whalewatcher")}  ${style.red("stopped")}  ${where}`
  }
}

/**
 * The totals line, e.g. `4 containers, 1 paused, 2 projects`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const totalsLine = (portfolio: Portfolio.Portfolio): string => {
  const totals = Portfolio.totals(portfolio)
  const projects = groupByProject(Portfolio.containers(portfolio)).filter((group) => group.project !== NoProject).length
  return `${plural(totals.containers, "container")}, ${totals.paused} paused, ${plural(projects, "project")}`
}

/**
 * The notes of containers changed within {@link highlightMillis}: the latest change and its time.
 *
 * @category formatting
 * @since 0.1.0
 */
export const recentNotes = (state: ScreenState, style: Style): Map<string, RowNote> => {
  const notes = new Map<string, RowNote>()
  for (const { arrivedAt, event } of state.recent) {
    if (state.now - arrivedAt > highlightMillis || event._tag === "Exited") continue
    const type = typeName(event)
    const colour = eventStyle(type, style)
    notes.set(event.container.id, {
      text: `← ${type} ${clockTime(DateTime.toEpochMillis(event.timestamp))}`,
      style: (text) => style.bold(colour(text))
    })
  }
  return notes
}

/**
 * One frame: at most `rows - 1` lines (the cursor rests on the last row), none wider than
 * `columns`. When the terminal is too small, the portfolio is cut and says how much is hidden.
 *
 * @category formatting
 * @since 0.1.0
 */
export const renderScreen = (state: ScreenState, style: Style): Array<string> => {
  const header = [statusLine(state, style), style.dim(totalsLine(state.portfolio)), ""]
  const containers = Portfolio.containers(state.portfolio)
  const body = containers.length === 0
    ? [style.dim("No containers are alive.")]
    : groupedTable(containers, style, recentNotes(state, style))
  const events = state.recent.slice(-recentEventCount).map(({ event }) =>
    `  ${
      eventLine(changeFacts(event, clockTime(DateTime.toEpochMillis(event.timestamp))), style)
    }`
  )
  const footer = events.length === 0 ? [] : ["", style.bold("RECENT EVENTS"), ...events]
  const room = Math.max(1, state.rows - 1)
  let shownEvents = footer
  // Too tall: fewer events first (down to three), then a cut portfolio.
  while (header.length + body.length + shownEvents.length > room && shownEvents.length > 5) {
    shownEvents = [...shownEvents.slice(0, 2), ...shownEvents.slice(3)]
  }
  let shownBody = body
  const bodyRoom = room - header.length - shownEvents.length
  if (body.length > bodyRoom) {
    const kept = Math.max(0, bodyRoom - 1)
    shownBody = [...body.slice(0, kept), style.dim(`… ${plural(body.length - kept, "more line")}: enlarge the terminal`)]
  }
  return [...header, ...shownBody, ...shownEvents].slice(0, room).map((line) => truncate(line, state.columns))
}

/**
 * The escape sequences that draw a frame over the previous one: cursor home, each line cleared
 * to its end, everything below cleared.
 *
 * @category formatting
 * @since 0.1.0
 */
export const frame = (lines: ReadonlyArray<string>): string => `\x1b[H${lines.map((line) => `${line}\x1b[K`).join("\n")}\x1b[J`

/**
 * Before the first frame: hide the cursor and clear the screen.
 *
 * @category constants
 * @since 0.1.0
 */
export const enterScreen = "\x1b[?25l\x1b[H\x1b[2J"

/**
 * After the last frame: show the cursor again (the last frame stays visible).
 *
 * @category constants
 * @since 0.1.0
 */
export const leaveScreen = "\x1b[?25h"
