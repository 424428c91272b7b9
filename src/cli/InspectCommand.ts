/**
 * `whalewatcher inspect NAME|ID`: one alive container's details, labels included.
 *
 * @since 0.1.0
 */
import { Console, Effect, Layer } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { EngineClient } from "../EngineClient.ts"
import type { Container } from "../Container.ts"
import { ContainerNotFound } from "../EngineError.ts"
import { CommandFailed, type UsageError } from "./CommandError.ts"
import { Connector, type EngineSelection } from "./Connector.ts"
import { ExitCode } from "./ExitCode.ts"
import { inspectJson } from "./JsonOutput.ts"
import { outputStyle, withEngine } from "./RootCommand.ts"
import { inspectLines } from "./TextOutput.ts"

/** How to include a namespace that the selection leaves out. */
const howToInclude = (selected: EngineSelection, namespace: string): string => {
  switch (selected.namespaces._tag) {
    case "Only":
      return `it is not among the --namespace flags; add -n ${namespace}`
    case "Default":
      return selected.namespaces.ignore.includes(namespace)
        ? `--ignore-namespace ${namespace} leaves it out`
        : `it is ignored by default; add -A (--all-namespaces) or -n ${namespace} to include it`
    case "All":
      return `--ignore-namespace ${namespace} leaves it out`
  }
}

/**
 * After a miss: looks the target up in every namespace, and when it lives in one the selection
 * leaves out, fails with a report that says which and how to include it (still exit 1).
 */
const inIgnoredNamespace = (selected: EngineSelection, target: string): Effect.Effect<void, CommandFailed, Connector> =>
  Effect.gen(function*() {
    const connector = yield* Connector
    const everywhere = connector.engine({ ...selected, namespaces: { _tag: "All", ignore: [] } })
    const found: Container | undefined = yield* Effect.flatMap(EngineClient, (engine) => engine.inspect(target)).pipe(
      Effect.provide(Layer.fresh(everywhere)),
      Effect.scoped,
      Effect.orElseSucceed(() => undefined)
    )
    if (found === undefined) return
    return yield* new CommandFailed({
      report: {
        exitCode: ExitCode.NotFound,
        lines: [
          `no container named or with ID "${target}" in the namespaces watched`,
          `container "${found.id}" lives in containerd namespace "${found.namespace}": ${howToInclude(selected, found.namespace)}`
        ]
      }
    })
  })

/**
 * The `inspect` subcommand.
 *
 * @category commands
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
      Argument.withDescription(
        "the container's name or display ID (containerd: namespace/id outside the default namespace; " +
          "Docker, Podman: the ID or an unambiguous prefix of it)"
      )
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("print {id, name, project, namespace, pid, paused, labels}"),
      Flag.withDefault(false)
    )
  },
  ({ json, target }) =>
    withEngine((selected) =>
      Effect.gen(function*() {
        const container = yield* (yield* EngineClient).inspect(target).pipe(
          Effect.catchIf(
            (error) =>
              error instanceof ContainerNotFound && selected.engine === "containerd" &&
              selected.namespaces._tag !== "All",
            (error) => Effect.flatMap(inIgnoredNamespace(selected, target), () => Effect.fail(error))
          )
        )
        if (json) return yield* Console.log(JSON.stringify(inspectJson(container)))
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
    { command: "whalewatcher inspect shop/db --json", description: "by display ID, as JSON" },
    { command: "whalewatcher --engine docker inspect 3f2a", description: "a Docker container by ID prefix" }
  ])
)
