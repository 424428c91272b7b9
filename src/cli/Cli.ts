/**
 * The `whalewatcher` command put together: the root command with its subcommands, help that
 * documents exit codes and the environment, usage errors on stderr, and {@link run}, which turns
 * every outcome into an exit code.
 *
 * @since 0.1.0
 */
import { Console, Effect, Layer, References, type Stdio, type Terminal } from "effect"
import { CliConfig, CliOutput, Command, GlobalFlag, TerminalCapabilities } from "effect/cli"
import type { CommandFailed, UsageError } from "./CommandError.ts"
import type { Connector, GlobalFlags } from "./Connector.ts"
import { engineFacts, engineKinds } from "./EngineKind.ts"
import { events } from "./EventsCommand.ts"
import { ExitCode, exitCodeHelp } from "./ExitCode.ts"
import { describeFailure, formatReport } from "./FailureReport.ts"
import { inspect } from "./InspectCommand.ts"
import { ls } from "./LsCommand.ts"
import { root } from "./RootCommand.ts"
import { terminalSafe, terminalSafeLines } from "./Sanitize.ts"
import { version } from "./Version.ts"
import { watch } from "./WatchCommand.ts"

/**
 * The whole command tree.
 *
 * @category commands
 * @since 0.1.0
 */
export const whalewatcher: Command.Command<
  "whalewatcher",
  GlobalFlags,
  GlobalFlags,
  UsageError | CommandFailed,
  Connector | Stdio.Stdio | Terminal.Terminal
> = root.pipe(
  Command.withSubcommands([ls, watch, events, inspect]),
  Command.withExamples([
    { command: "whalewatcher ls", description: "the alive containers, grouped by compose project" },
    { command: "whalewatcher --address /run/k3s/containerd/containerd.sock ls -A", description: "another containerd, every namespace" },
    { command: "whalewatcher --engine docker ls", description: "Docker's containers (Podman's: --engine podman)" },
    { command: "whalewatcher watch", description: "a live view until Ctrl-C" },
    { command: "whalewatcher watch --json", description: "a ready line, then one JSON line per change" },
    { command: "whalewatcher inspect web --json", description: "one container, labels included" },
    { command: "whalewatcher events -n shop", description: "lifecycle events of one namespace" }
  ])
)

const appendix = (style: (text: string) => string): string =>
  [
    "",
    style("EXIT CODES"),
    ...exitCodeHelp.map(([code, meaning]) => `  ${code}  ${meaning}`),
    "",
    style("ENVIRONMENT"),
    ...engineKinds.map((kind) => {
      const { defaultAddress, name, variable } = engineFacts[kind]
      return `  ${variable.padEnd(18)}  ${name}'s socket when --address is not given (default ${defaultAddress})`
    }),
    `  ${"NO_COLOR".padEnd(18)}  no colours, even on a terminal`
  ].join("\n")

/** effect's layout puts no blank line between the subcommands and the examples; add it. */
const separateExamples = (help: string): string => help.replace(/([^\n])\n((?:\x1b\[1m)?EXAMPLES)/, "$1\n\n$2")

/** effect's help layout, followed by the exit codes and the environment variables. */
const formatter = (colors: boolean): CliOutput.Formatter => {
  const base = CliOutput.defaultFormatter({ colors })
  const bold = colors ? (text: string) => `\x1b[1m${text}\x1b[0m` : (text: string) => text
  return {
    ...base,
    formatHelpDoc: (doc) => `${separateExamples(base.formatHelpDoc(doc))}\n${appendix(bold)}`,
    formatVersion: (name, version) => `${name} ${version}`
  }
}

/**
 * Help and version on stdout; a usage error on stderr, in one short paragraph rather than the whole
 * help (stdout stays clean for scripts).
 */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function*() {
      const output = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help":
          return yield* Console.log(output.formatHelpDoc(event.helpDoc))
        case "Version":
          return yield* Console.log(output.formatVersion(event.name, event.version))
        case "InvalidInvocation":
          return yield* Console.error(
            [
              ...event.errors.map((error) => `whalewatcher: ${terminalSafeLines(error.message)}`),
              `  Run '${event.commandPath.map(terminalSafe).join(" ")} --help' for usage.`
            ].join("\n")
          )
      }
    })
}

/**
 * Runs the command line `args` (without the program name) and returns the exit code. Everything
 * went to the Console (stdout: results; stderr: diagnostics and errors); nothing fails. When the
 * effect is interrupted (Ctrl-C), its scopes close: subscriptions and connections end.
 *
 * @category running
 * @since 0.1.0
 */
export const run = (args: ReadonlyArray<string>): Effect.Effect<ExitCode, never, Command.Environment | Connector> =>
  Effect.gen(function*() {
    const capabilities = yield* TerminalCapabilities.TerminalCapabilities
    return yield* Command.runWith(whalewatcher, { version })(args).pipe(
      Effect.provide(
        Layer.mergeAll(
          CliOutput.layer(formatter(capabilities.canColor)),
          CliOutput.layerPresenter(presenter),
          // No wizard (it prompts on the keyboard), completions or log levels (they crowd the help).
          CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version] })
        )
      ),
      // The command reports failures itself, in words for people; library logs would repeat them.
      Effect.provideService(References.MinimumLogLevel, "None"),
      Effect.exit
    )
  }).pipe(
    Effect.provide(TerminalCapabilities.layer),
    Effect.flatMap((exit) => {
      if (exit._tag === "Success") return Effect.succeed(ExitCode.Ok)
      const report = describeFailure(exit.cause)
      if (report === undefined) return Effect.succeed(ExitCode.Ok)
      return Effect.as(report.lines.length > 0 ? Console.error(formatReport(report)) : Effect.void, report.exitCode)
    })
  )
