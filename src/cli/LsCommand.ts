/**
 * `whalewatcher ls`: the alive containers, as tables grouped by compose project or as JSON.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import type { Container } from "../Container.ts"
import { EngineClient } from "../EngineClient.ts"
import { type CommandFailed, UsageError } from "./CommandError.ts"
import type { Connector } from "./Connector.ts"
import { listJson } from "./JsonOutput.ts"
import { outputStyle, withEngine } from "./RootCommand.ts"
import { groupedTable } from "./TextOutput.ts"

/**
 * One `--label` filter: the label must exist and, when `value` is given, have that value.
 *
 * @category models
 * @since 0.1.0
 */
export interface LabelFilter {
  /** The label's key. */
  readonly key: string
  /** The value it must have; any value when undefined. */
  readonly value?: string | undefined
}

/**
 * Parses `KEY=VALUE` (the label has this value) or `KEY` (the label exists). The value may contain
 * `=`; the key may not be empty.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parseLabelFilter = (text: string): Effect.Effect<LabelFilter, UsageError> => {
  const equals = text.indexOf("=")
  const key = equals < 0 ? text : text.slice(0, equals)
  if (key === "") return Effect.fail(new UsageError({ problem: `--label ${text}: expected KEY=VALUE or KEY` }))
  return Effect.succeed(equals < 0 ? { key } : { key, value: text.slice(equals + 1) })
}

/**
 * True when the container passes every filter.
 *
 * @category predicates
 * @since 0.1.0
 */
export const matchesLabels = (container: Container, filters: ReadonlyArray<LabelFilter>): boolean =>
  filters.every((filter) =>
    Object.hasOwn(container.labels, filter.key) &&
    (filter.value === undefined || container.labels[filter.key] === filter.value)
  )

/**
 * The `ls` subcommand.
 *
 * @category commands
 * @since 0.1.0
 */
export const ls: Command.Command<
  "ls",
  { readonly json: boolean; readonly label: ReadonlyArray<string> },
  {},
  UsageError | CommandFailed,
  Connector | Command.CommandContext<"whalewatcher">
> = Command.make(
  "ls",
  {
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("print a JSON array of {id, name, project, pid, paused, labels}, sorted by id"),
      Flag.withDefault(false)
    ),
    label: Flag.String("label").pipe(
      Flag.withAlias("l"),
      Flag.withMetavar("KEY[=VALUE]"),
      Flag.withDescription("only containers with this label (and value); repeat to require several"),
      Flag.atLeast(0)
    )
  },
  ({ json, label }) =>
    Effect.flatMap(Effect.forEach(label, parseLabelFilter), (filters) =>
      withEngine(() =>
        Effect.gen(function*() {
        const engine = yield* EngineClient
        const containers = (yield* engine.list).filter((container) => matchesLabels(container, filters))
        if (json) return yield* Console.log(JSON.stringify(listJson(containers)))
        if (containers.length === 0) {
          return yield* Console.log(filters.length === 0 ? "No containers are alive." : "No alive container matches.")
        }
        const style = yield* outputStyle
        yield* Console.log(groupedTable(containers, style).join("\n"))
      })
    ))
).pipe(
  Command.withShortDescription("the alive containers, grouped by project"),
  Command.withDescription(
    "Lists the alive containers (running or paused), grouped by compose project; containers of no project come last."
  ),
  Command.withExamples([
    { command: "whalewatcher ls", description: "tables per project" },
    { command: "whalewatcher ls --json | jq -r '.[].name'", description: "the names, for a script" },
    { command: "whalewatcher ls -A --label com.docker.compose.project=shop", description: "one project, in every namespace" }
  ])
)
