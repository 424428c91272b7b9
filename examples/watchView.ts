/**
 * The live watcher view shared by examples/watch.ts and examples/demo.ts: the portfolio grouped by
 * compose project, then one line per change; or, with `json`, one JSON object per line.
 */
import { Console, DateTime, Effect, Stream } from "effect"
import { Portfolio, Watcher } from "../src/index.ts"
import { watchEventJson, watchReadyJson } from "../src/cli/JsonOutput.ts"
import { changeFacts, eventLine, groupedTable, plainStyle } from "../src/cli/TextOutput.ts"

/** The portfolio as text: a count, then the CLI's tables grouped by project (`whalewatcher ls`). */
export const portfolioText = (portfolio: Portfolio.Portfolio): string => {
  const totals = Portfolio.totals(portfolio)
  const containers = Portfolio.containers(portfolio)
  const tables = containers.length === 0 ? [] : ["", ...groupedTable(containers, plainStyle)]
  return [`${totals.containers} containers alive, ${totals.paused} paused`, ...tables].join("\n")
}

/** One human line for a change, as `whalewatcher watch` prints it when piped. */
export const changeText = (event: Watcher.WatcherEvent): string =>
  eventLine(changeFacts(event, DateTime.formatIso(event.timestamp)))

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
      yield* Console.log(JSON.stringify(watchReadyJson(portfolio)))
      return yield* events.pipe(Stream.runForEach((event) => Console.log(JSON.stringify(watchEventJson(event)))))
    }
    yield* Console.log(`${portfolioText(portfolio)}\n`)
    const changes = events.pipe(Stream.tap((event) => Console.log(changeText(event))))
    const settled = changes.pipe(
      Stream.debounce("600 millis"),
      Stream.mapEffect(() => Effect.flatMap(watcher.portfolio.get, (now) => Console.log(`\n${portfolioText(now)}\n`)))
    )
    return yield* Stream.runDrain(settled)
  }).pipe(Effect.scoped)
