/**
 * Failures of the `whalewatcher` command as a person reads them: what went wrong, what to try,
 * and the exit code that tells a script which kind of failure it was.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { Cause } from "effect"
import { CliError } from "effect/cli"
import { type EngineError, type EngineUnavailable, isEngineError } from "../EngineError.ts"
import { terminalSafe } from "./sanitize.ts"
import { type TaggedErrorClass, taggedError } from "../internal/taggedError.ts"

/**
 * The exit codes, documented in `--help`.
 *
 * @since 0.1.0
 */
export const ExitCode: {
  /** Done; also when watch or events end on Ctrl-C / SIGTERM. */
  readonly Ok: 0
  /** inspect: no such container, or one without a running process. */
  readonly NotFound: 1
  /** The command line is wrong: unknown command or flag, bad or conflicting values. */
  readonly Usage: 2
  /** containerd cannot be reached: no socket, permission denied, nothing listening, connection lost. */
  readonly EngineUnavailable: 3
  /** containerd refused a request, or something unexpected broke. */
  readonly Failed: 4
} = { Ok: 0, NotFound: 1, Usage: 2, EngineUnavailable: 3, Failed: 4 }

/**
 * One of the {@link ExitCode} values.
 *
 * @since 0.1.0
 */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode]

/**
 * The exit codes and their meaning, as `--help` lists them.
 *
 * @since 0.1.0
 */
export const exitCodeHelp: ReadonlyArray<readonly [code: ExitCode, meaning: string]> = [
  [ExitCode.Ok, "success (watch and events: ended by Ctrl-C or SIGTERM)"],
  [ExitCode.NotFound, "inspect: no such container, or it has no running process"],
  [ExitCode.Usage, "usage error: unknown command or flag, bad or conflicting values"],
  [ExitCode.EngineUnavailable, "containerd unavailable: no socket, permission denied, not listening, connection lost"],
  [ExitCode.Failed, "containerd refused a request, or an unexpected error"]
]

/**
 * Fields of {@link UsageError}.
 *
 * @since 0.1.0
 */
export interface UsageErrorFields {
  /** What is wrong with the command line, in a person's words. */
  readonly problem: string
}

const UsageErrorBase: TaggedErrorClass<"UsageError", UsageErrorFields> = taggedError("UsageError")

/**
 * The command line parsed, but does not make sense: e.g. `--namespace` together with
 * `--all-namespaces`, or a `--label` filter without a key.
 *
 * @since 0.1.0
 */
export class UsageError extends UsageErrorBase {
  /**
   * The problem, as it is printed.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return this.problem
  }
}

/**
 * Where the socket address came from; error messages say it, because a forgotten
 * `CONTAINERD_ADDRESS` is a common surprise.
 *
 * @since 0.1.0
 */
export type AddressSource = "flag" | "environment" | "default"

/**
 * What to print (on stderr) and which code to exit with.
 *
 * @since 0.1.0
 */
export interface FailureReport {
  /** The code the process exits with. */
  readonly exitCode: ExitCode
  /** Lines for stderr; empty when everything was said already (e.g. the usage help). */
  readonly lines: ReadonlyArray<string>
}

/**
 * Fields of {@link CommandFailed}.
 *
 * @since 0.1.0
 */
export interface CommandFailedFields {
  /** What to tell, and the exit code. */
  readonly report: FailureReport
}

const CommandFailedBase: TaggedErrorClass<"CommandFailed", CommandFailedFields> = taggedError("CommandFailed")

/**
 * A command failed for a reason already described for people (e.g. an engine error, described
 * with the knowledge of where the socket path came from).
 *
 * @since 0.1.0
 */
export class CommandFailed extends CommandFailedBase {
  /**
   * The report's lines.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return this.report.lines.join("\n")
  }
}

const addressOrigin = (source: AddressSource | undefined): string =>
  source === "flag"
    ? " (given with --address)"
    : source === "environment"
    ? " (from CONTAINERD_ADDRESS)"
    : source === "default"
    ? " (the default; give another one with --address PATH or CONTAINERD_ADDRESS)"
    : ""

/**
 * Owner group and mode of the socket, to tell a person which group to join; undefined when the
 * socket cannot even be stat'ed.
 */
const socketAccessHint = (address: string): string | undefined => {
  try {
    const stats = fs.statSync(address)
    const mode = (stats.mode & 0o777).toString(8).padStart(3, "0")
    const group = groupName(stats.gid)
    return `the socket belongs to uid ${stats.uid} and ${group === undefined ? "" : `group ${group}, `}gid ${stats.gid}, mode ${mode}`
  } catch {
    return undefined
  }
}

const groupName = (gid: number): string | undefined => {
  try {
    for (const line of fs.readFileSync("/etc/group", "utf8").split("\n")) {
      const [name, , id] = line.split(":")
      if (name !== undefined && id !== undefined && Number(id) === gid) return name
    }
  } catch {
    // no /etc/group (not Linux, or not readable): the gid alone must do
  }
  return undefined
}

/**
 * What a person should read when containerd cannot be reached.
 *
 * @since 0.1.0
 */
export const describeUnavailable = (
  error: EngineUnavailable,
  source?: AddressSource | undefined
): ReadonlyArray<string> => {
  const address = error.address
  switch (error.reason) {
    case "SocketNotFound":
      return [
        `no containerd socket at ${address}${addressOrigin(source)}`,
        "Is containerd running? Is the path right?"
      ]
    case "PermissionDenied": {
      const hint = socketAccessHint(address)
      return [
        `permission denied on the containerd socket ${address}`,
        "Run as root (e.g. with sudo), or as a member of the group owning the socket" +
        (hint === undefined ? "." : `: ${hint}.`)
      ]
    }
    case "NotListening":
      return [
        `nothing listens on the containerd socket ${address} (connection refused)`,
        "Is containerd running? A crashed containerd leaves its socket file behind."
      ]
    case "NotASocket":
      return [
        `${address}${addressOrigin(source)} is not a socket`,
        "Is the address right? containerd's API socket is usually /run/containerd/containerd.sock."
      ]
    case "NotTheEngineApi":
      return [
        `${address}${addressOrigin(source)} is not a containerd API socket${detail(error.detail)}`,
        "Is the address right? containerd's gRPC socket is usually /run/containerd/containerd.sock (not its .ttrpc socket)."
      ]
    case "DeadlineExceeded":
      return [`containerd at ${address} did not answer ${error.operation} in time${detail(error.detail)}`]
    case "ConnectionLost":
      return [`lost the connection to containerd at ${address} during ${error.operation}${detail(error.detail)}`]
    case "Unavailable":
      return [`containerd at ${address} is unavailable${detail(error.detail)}`]
    case "Closed":
      return [`the connection to containerd at ${address} was closed`]
  }
}

const detail = (text: string): string => (text === "" ? "" : ` (${text})`)

/**
 * The exit code and message for an engine error.
 *
 * @since 0.1.0
 */
export const describeEngineError = (error: EngineError, source?: AddressSource | undefined): FailureReport => {
  switch (error._tag) {
    case "EngineUnavailable":
      return { exitCode: ExitCode.EngineUnavailable, lines: describeUnavailable(error, source) }
    case "ContainerNotFound":
      return { exitCode: ExitCode.NotFound, lines: [`no container named or with ID "${error.nameOrId}"`] }
    case "ProcesslessContainer":
      return {
        exitCode: ExitCode.NotFound,
        lines: [
          `container "${error.id}" has no running process: it was created and never started, or it has exited`
        ]
      }
    case "EngineRequestError":
      return { exitCode: ExitCode.Failed, lines: [error.message] }
  }
}

/**
 * The report for whatever ended a command, or `undefined` when it ended well. Usage errors
 * found by the parser were printed by the parser already; interruptions (Ctrl-C) are a normal end.
 *
 * @since 0.1.0
 */
export const describeFailure = (cause: Cause.Cause<unknown>): FailureReport | undefined => {
  if (Cause.hasInterruptsOnly(cause)) return undefined
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (CliError.isCliError(error)) {
      // ShowHelp without errors: help was asked for (or no command given) and has been printed.
      if (error._tag === "ShowHelp") return error.errors.length === 0 ? undefined : { exitCode: ExitCode.Usage, lines: [] }
      return { exitCode: ExitCode.Usage, lines: [error.message] }
    }
    if (error instanceof UsageError) return { exitCode: ExitCode.Usage, lines: [error.message] }
    if (error instanceof CommandFailed) return error.report
    if (isEngineError(error)) return describeEngineError(error)
  }
  return { exitCode: ExitCode.Failed, lines: ["unexpected error:", ...Cause.pretty(cause).split("\n")] }
}

/**
 * The report's lines as printed on stderr: prefixed with the program name, terminal-safe (names,
 * IDs and paths in messages may come from anyone).
 *
 * @since 0.1.0
 */
export const formatReport = (report: FailureReport): string =>
  report.lines.map((line, index) => `${index === 0 ? "whalewatcher: " : "  "}${terminalSafe(line)}`).join("\n")
