/**
 * `whalewatcher watch`: the live portfolio, from the {@link Watcher.Watcher}, until Ctrl-C.
 *
 * - On a terminal: a screen redrawn in place (status, containers grouped by project with recent
 *   changes highlighted, the latest events).
 * - Piped: the portfolio once, then one line per change.
 * - `--json`: `{"type":"ready","containers":N}` once after the first sync, then one object per
 *   change, as `examples/watch.ts` prints them.
 *
 * When containerd cannot be reached at the start, the command fails at once (exit 3); when it goes
 * away later, the watcher retries and the command says so (on the screen, or on stderr) until
 * it is back, then announces only what changed meanwhile.
 *
 * @since 0.1.0
 */
import { Clock, Console, DateTime, Duration, Effect, Layer, Queue, type Scope, Stdio, Stream, Terminal } from "effect"
import { Command, Flag } from "effect/cli"
import { type EngineError, isEngineError } from "../EngineError.ts"
import * as Portfolio from "../Portfolio.ts"
import * as Watcher from "../Watcher.ts"
import { CommandFailed, type UsageError } from "./CommandError.ts"
import { Connector, type EngineSelection } from "./Connector.ts"
import { engineFacts } from "./EngineKind.ts"
import { ExitCode } from "./ExitCode.ts"
import { describeEngineError, engineProblem } from "./FailureReport.ts"
import { watchEventJson, watchReadyJson } from "./JsonOutput.ts"
import { outputStyle, selection } from "./RootCommand.ts"
import { terminalSafe } from "./Sanitize.ts"
import { changeFacts, eventLine, groupedTable, type Style } from "./TextOutput.ts"
import { enterScreen, frame, leaveScreen, recentEventCount, renderScreen } from "./WatchScreen.ts"

/** How the watcher retries after the engine went away: soon, and at least every 5 seconds. */
const retry = Watcher.retrySchedule({ base: "250 millis", max: "5 seconds" })

/**
 * Waits for the first sync; fails with the engine's error as soon as the first attempt failed
 * (a person who mistyped the socket path should hear it at once, not watch retries).
 */
const firstSync = (watcher: Watcher.WatcherShape): Effect.Effect<void, EngineError> =>
  Effect.raceFirst(
    watcher.ready,
    watcher.status.changes.pipe(
      Stream.runForEach((status) =>
        status._tag === "Retrying"
          ? Effect.fail(status.error)
          : status._tag === "Stopped"
          ? Effect.failCause(status.cause)
          : Effect.void
      ),
      Effect.andThen(Effect.never)
    )
  )

/**
 * Reports on stderr when the engine goes away (and how the watcher retries) and when it is back.
 * Runs until interrupted.
 */
const reportStatus = (watcher: Watcher.WatcherShape, selected: EngineSelection): Effect.Effect<void> => {
  let troubled = false
  return watcher.status.changes.pipe(
    Stream.runForEach((status) => {
      if (status._tag === "Retrying") {
        troubled = true
        const problem = engineProblem(status.error, selected)
        return Console.error(
          `whalewatcher: ${terminalSafe(problem)}; retrying in ${Math.ceil(Duration.toMillis(status.delay) / 1000)}s (attempt ${status.attempt})`
        )
      }
      if (status._tag === "Live" && troubled) {
        troubled = false
        return Console.error(
          `whalewatcher: back in sync with ${engineFacts[selected.engine].name} at ${terminalSafe(selected.address)}`
        )
      }
      return Effect.void
    })
  )
}

type View = (
  watcher: Watcher.WatcherShape,
  subscription: Watcher.Subscription
) => Effect.Effect<void, Watcher.EventsLagged, Terminal.Terminal | Scope.Scope>

/** JSON lines: ready, then one object per change; status reports on stderr. */
const jsonView = (selected: EngineSelection): View => (watcher, subscription) =>
  Effect.gen(function*() {
    yield* Console.log(JSON.stringify(watchReadyJson(subscription.portfolio)))
    yield* Effect.forkScoped(reportStatus(watcher, selected))
    yield* subscription.events.pipe(Stream.runForEach((event) => Console.log(JSON.stringify(watchEventJson(event)))))
  })

/** Plain lines for pipes and files: the portfolio once, then one line per change. */
const linesView = (selected: EngineSelection, style: Style): View => (watcher, subscription) =>
  Effect.gen(function*() {
    const containers = Portfolio.containers(subscription.portfolio)
    yield* Console.log(
      [...(containers.length === 0 ? ["No containers are alive."] : groupedTable(containers, style)), ""].join("\n")
    )
    yield* Effect.forkScoped(reportStatus(watcher, selected))
    yield* subscription.events.pipe(Stream.runForEach((event) =>
      Console.log(eventLine(changeFacts(event, DateTime.formatIso(event.timestamp)), style))
    ))
  })

/**
 * The screen redrawn in place: after every batch of changes, every status change, every resize and
 * every second (highlights fade, retry countdowns count), at most 20 frames a second.
 */
const screenView = (selected: EngineSelection, style: Style): View => (watcher, subscription) =>
  Effect.gen(function*() {
    const terminal = yield* Terminal.Terminal
    let portfolio = subscription.portfolio
    let status = yield* watcher.status.get
    let recent: Array<{ readonly event: Watcher.WatcherEvent; readonly arrivedAt: number }> = []
    let size = { columns: yield* terminal.columns, rows: yield* terminal.rows }
    const redraw = yield* Queue.sliding<void>(1)
    const wake = Effect.sync(() => {
      Queue.offerUnsafe(redraw, undefined)
    })

    yield* Console.log(enterScreen)
    yield* Effect.addFinalizer(() => Console.log(leaveScreen))

    yield* Effect.forkScoped(watcher.status.changes.pipe(
      Stream.runForEach((next) => Effect.andThen(Effect.sync(() => status = next), wake))
    ))
    yield* Effect.forkScoped(Stream.tick("1 second").pipe(Stream.runForEach(() => wake)))
    const sizes = yield* terminal.size
    yield* Effect.forkScoped(Stream.fromQueue(sizes).pipe(
      Stream.runForEach((next) => Effect.andThen(Effect.sync(() => size = next), wake))
    ))
    yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
      yield* Queue.take(redraw)
      const now = yield* Clock.currentTimeMillis
      yield* Console.log(frame(renderScreen({ engine: selected.engine, address: selected.address, portfolio, status, recent, now, ...size }, style)))
      yield* Effect.sleep("50 millis")
    })))

    yield* subscription.events.pipe(Stream.runForEachArray((events) =>
      Effect.gen(function*() {
        const arrivedAt = yield* Clock.currentTimeMillis
        for (const event of events) {
          portfolio = Portfolio.applyChange(portfolio, event)
          recent.push({ event, arrivedAt })
        }
        recent = recent.slice(-recentEventCount)
        yield* wake
      })
    ))
  })

/**
 * The `watch` subcommand.
 *
 * @category commands
 * @since 0.1.0
 */
export const watch: Command.Command<
  "watch",
  { readonly json: boolean },
  {},
  UsageError | CommandFailed,
  Connector | Stdio.Stdio | Terminal.Terminal | Command.CommandContext<"whalewatcher">
> = Command.make(
  "watch",
  {
    json: Flag.Boolean("json").pipe(
      Flag.withDescription(
        "one JSON object per line: {type: \"ready\", containers} once, then {type, id, name, project, pid, paused} per change"
      ),
      Flag.withDefault(false)
    )
  },
  ({ json }) =>
    Effect.gen(function*() {
      const selected = yield* selection
      const connector = yield* Connector
      const onTerminal = !json && (yield* (yield* Stdio.Stdio).stdoutIsTerminal)
      const style = yield* outputStyle
      const view = json
        ? jsonView(selected)
        : onTerminal
        ? screenView(selected, style)
        : linesView(selected, style)
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher.Watcher
        yield* firstSync(watcher)
        const subscription = yield* watcher.subscribe
        yield* view(watcher, subscription)
        // The events end only when the watcher stopped: its last error says why.
        const status = yield* watcher.status.get
        if (status._tag === "Stopped") return yield* Effect.failCause(status.cause)
      }).pipe(
        Effect.scoped,
        Effect.provide(Watcher.layer({ retry }).pipe(Layer.provide(connector.engine(selected)))),
        Effect.catchIf(
          isEngineError,
          (error) => Effect.fail(new CommandFailed({ report: describeEngineError(error, selected) }))
        ),
        Effect.catchTag("EventsLagged", (lagged) =>
          Effect.fail(
            new CommandFailed({
              report: {
                exitCode: ExitCode.Failed,
                lines: [`the output fell behind and missed ${lagged.missed} events; run watch again for a complete picture`]
              }
            })
          ))
      )
    })
).pipe(
  Command.withShortDescription("a live view of the containers, until Ctrl-C"),
  Command.withDescription(
    "Follows the alive containers live, grouped by compose project. On a terminal the view is redrawn in place, " +
      "recent changes highlighted; otherwise the containers are printed once, then one line per change. " +
      "When the engine goes away the watcher retries, and announces only what changed meanwhile."
  ),
  Command.withExamples([
    { command: "whalewatcher watch" },
    { command: "whalewatcher watch --json | jq -c 'select(.type == \"exited\")'", description: "exits, for a script" }
  ])
)
