/**
 * The live watcher view shared by examples/watch.ts and examples/demo.ts: the portfolio grouped by
 * compose project, then one line per change; or, with `json`, one JSON object per line.
 */
import { Console, Effect, Stream, SubscriptionRef } from "effect"
import { Container, ContainerEvent, Portfolio, Watcher } from "../src/index.ts"
import { terminalSafe } from "../src/cli/sanitize.ts"
import { table } from "./support.ts"

/** The JSON line of one announced change. */
export const changeJson = (event: Watcher.WatcherEvent): string => {
  const { id, name, paused, pid, project } = event.container
  return JSON.stringify({ type: ContainerEvent.typeName(event), id, name, project, pid, paused })
}

/** The portfolio as text, grouped by project (the unnamed project last). */
export const portfolioText = (portfolio: Portfolio.Portfolio): string => {
  const totals = Portfolio.totals(portfolio)
  const projects = [...Portfolio.projectNames(portfolio)].sort((a, b) =>
    a === Container.NoProject ? 1 : b === Container.NoProject ? -1 : a.localeCompare(b)
  )
  const sections = projects.flatMap((name) => {
    const containers = [...Portfolio.projectContainers(portfolio, name)].sort((a, b) => a.id.localeCompare(b.id))
    if (containers.length === 0) return []
    // Names, IDs and projects are chosen by whoever created the container: escaped for the terminal.
    const rows = containers.map((c) => [terminalSafe(c.id), terminalSafe(c.name), String(c.pid), c.paused ? "paused" : "running"])
    return [`${name === Container.NoProject ? "(no project)" : `project ${terminalSafe(name)}`}\n${table(["ID", "NAME", "PID", "STATE"], rows)}`]
  })
  return [`${totals.containers} containers alive, ${totals.paused} paused`, ...sections].join("\n\n")
}

/** One human line for a change. */
export const changeText = (event: Watcher.WatcherEvent): string => {
  const { container } = event
  const name = container.name === container.id ? "" : ` (${terminalSafe(container.name)})`
  const project = container.project === "" ? "" : ` [${terminalSafe(container.project)}]`
  return `${ContainerEvent.isoTimestamp(event)}  ${ContainerEvent.typeName(event).padEnd(8)}  ${terminalSafe(container.id)}${name}${project}  pid ${container.pid}`
}

/**
 * Runs the view until interrupted: waits for the first sync, prints the portfolio (JSON: a
 * `ready` line), then every change; in the human view, also the whole portfolio again once
 * changes have settled for a moment.
 */
export const watchView = (options: { readonly json: boolean }): Effect.Effect<void, unknown, Watcher.Watcher> =>
  Effect.gen(function*() {
    const watcher = yield* Watcher.Watcher
    yield* watcher.ready
    const { events, portfolio } = yield* watcher.subscribe
    if (options.json) {
      yield* Console.log(JSON.stringify({ type: "ready", containers: Portfolio.size(portfolio) }))
      return yield* events.pipe(Stream.runForEach((event) => Console.log(changeJson(event))))
    }
    yield* Console.log(`${portfolioText(portfolio)}\n`)
    const changes = events.pipe(Stream.tap((event) => Console.log(changeText(event))))
    const settled = changes.pipe(
      Stream.debounce("600 millis"),
      Stream.mapEffect(() => Effect.flatMap(SubscriptionRef.get(watcher.portfolio), (now) => Console.log(`\n${portfolioText(now)}\n`)))
    )
    return yield* Stream.runDrain(settled)
  }).pipe(Effect.scoped)
