/**
 * The `whalewatcher` root command and what its subcommands share: the global flags (engine,
 * socket address, namespace filters), reaching the engine they select, and the output style.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import { Command, Flag, TerminalCapabilities } from "effect/cli"
import { DefaultIgnoredNamespaces } from "../containerd/NamespaceFilter.ts"
import type { EngineClient } from "../EngineClient.ts"
import { type EngineError, isEngineError } from "../EngineError.ts"
import { CommandFailed, type UsageError } from "./CommandError.ts"
import { Connector, type EngineSelection, type GlobalFlags, selectEngine } from "./Connector.ts"
import { engineFacts, engineKinds } from "./EngineKind.ts"
import { describeEngineError } from "./FailureReport.ts"
import { ansiStyle, plainStyle, type Style } from "./TextOutput.ts"

/**
 * The root command: global flags only; the work is done by its subcommands.
 *
 * @category commands
 * @since 0.1.0
 */
export const root: Command.Command<"whalewatcher", GlobalFlags, GlobalFlags> = Command.make("whalewatcher").pipe(
  Command.withSharedFlags({
    engine: Flag.Literals("engine", engineKinds).pipe(
      Flag.withDescription("the engine: containerd, or the Docker Engine API of Docker or Podman"),
      Flag.withDefault("containerd" as const)
    ),
    address: Flag.String("address").pipe(
      Flag.withMetavar("PATH"),
      Flag.withDescription(
        `the engine's socket (a unix:// prefix is fine); default: ${
          engineKinds.map((kind) => `${kind}: $${engineFacts[kind].variable}, else ${engineFacts[kind].defaultAddress}`).join(
            "; "
          )
        }`
      ),
      Flag.optional
    ),
    namespace: Flag.String("namespace").pipe(
      Flag.withAlias("n"),
      Flag.withMetavar("NS"),
      Flag.withDescription("only this containerd namespace (repeat for more; containerd only)"),
      Flag.atLeast(0)
    ),
    allNamespaces: Flag.Boolean("all-namespaces").pipe(
      Flag.withAlias("A"),
      Flag.withDescription(`also the namespaces ignored by default (${DefaultIgnoredNamespaces.join(", ")})`),
      Flag.withDefault(false)
    ),
    ignoreNamespace: Flag.String("ignore-namespace").pipe(
      Flag.withMetavar("NS"),
      Flag.withDescription("leave out this namespace too (repeat for more)"),
      Flag.atLeast(0)
    )
  }),
  Command.withDescription(
    "Shows the containers alive on a host, from containerd, Docker or Podman: a list, one container's details, " +
      "their lifecycle events, or a live view that follows every change."
  )
)

/**
 * The engine the global flags select.
 *
 * @category getters
 * @since 0.1.0
 */
export const selection: Effect.Effect<EngineSelection, UsageError, Command.CommandContext<"whalewatcher">> = Effect
  .flatMap(root, selectEngine)

/**
 * Runs `use` with the selected engine as EngineClient; an engine error becomes a
 * {@link CommandFailed} whose report names the socket and where its path came from.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withEngine = <A, E, R>(
  use: (selection: EngineSelection) => Effect.Effect<A, E | EngineError, R>
): Effect.Effect<
  A,
  Exclude<E, EngineError> | UsageError | CommandFailed,
  Exclude<Exclude<R, EngineClient>, Scope.Scope> | Connector | Command.CommandContext<"whalewatcher">
> =>
  Effect.gen(function*() {
    const selected = yield* selection
    const connector = yield* Connector
    return yield* use(selected).pipe(
      Effect.provide(connector.engine(selected)),
      Effect.scoped,
      Effect.catchIf(
        isEngineError,
        (error) => Effect.fail(new CommandFailed({ report: describeEngineError(error, selected) }))
      )
    )
  })

/**
 * Colours when standard output is a terminal that takes them (and `NO_COLOR` is not set).
 *
 * @category getters
 * @since 0.1.0
 */
export const outputStyle: Effect.Effect<Style> = Effect.gen(function*() {
  const capabilities = yield* TerminalCapabilities.TerminalCapabilities
  return capabilities.canColor ? ansiStyle : plainStyle
})
