/**
 * `whalewatcher inspect NAME|ID`: one alive container's details, labels included.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { EngineClient } from "../EngineClient.ts"
import type { Connector } from "./Connector.ts"
import type { CommandFailed, UsageError } from "./errors.ts"
import { inspectJson, inspectLines } from "./format.ts"
import { outputStyle, withEngine } from "./rootCommand.ts"

/**
 * The `inspect` subcommand.
 *
 * @since 0.1.0
 */
export const inspect: Command.Command<
  "inspect",
  { readonly target: string; readonly json: boolean },
  {},
  UsageError | CommandFailed,
  Connector | Command.CommandContext<"whalewatcher">
> = Command.make(
  "inspect",
  {
    target: Argument.String("name-or-id").pipe(
      Argument.withDescription("the container's display ID (namespace/id outside the default namespace) or name")
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("print {id, name, project, namespace, pid, paused, labels}"),
      Flag.withDefault(false)
    )
  },
  ({ json, target }) =>
    withEngine(() =>
      Effect.gen(function*() {
        const container = yield* (yield* EngineClient).inspect(target)
        if (json) return yield* Console.log(inspectJson(container))
        yield* Console.log(inspectLines(container, yield* outputStyle).join("\n"))
      })
    )
).pipe(
  Command.withShortDescription("one container's details"),
  Command.withDescription(
    "Shows one alive container: ID, name, project, namespace, PID, state and labels. " +
      "Exits 1 when there is no such container, or when it has no running process."
  ),
  Command.withExamples([
    { command: "whalewatcher inspect web", description: "by name (nerdctl's name label)" },
    { command: "whalewatcher inspect shop/db --json", description: "by display ID, as JSON" }
  ])
)
