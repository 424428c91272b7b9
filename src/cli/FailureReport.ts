/**
 * Failures of the `whalewatcher` command as a person reads them: what went wrong, what to try,
 * and the {@link ExitCode} that tells a script which kind of failure it was. Only the full report
 * of a permission problem looks at the file system (the socket's owner and mode), once, when the
 * failure is reported; the first line alone ({@link engineProblem}) never does.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { Cause } from "effect"
import { CliError } from "effect/cli"
import { type EngineError, type EngineUnavailable, isEngineError } from "../EngineError.ts"
import { CommandFailed, UsageError } from "./CommandError.ts"
import type { AddressSource } from "./Connector.ts"
import { engineFacts, type EngineKind } from "./EngineKind.ts"
import { ExitCode } from "./ExitCode.ts"
import { terminalSafe } from "./Sanitize.ts"

/**
 * Which engine an error came from and where its address came from, for the words of a report.
 *
 * @category models
 * @since 0.1.0
 */
export interface ErrorOrigin {
  /** The engine that was asked. */
  readonly engine: EngineKind
  /** Where the socket address came from; unknown when undefined. */
  readonly addressSource?: AddressSource | undefined
}

const containerdOrigin: ErrorOrigin = { engine: "containerd" }

/**
 * What to print (on stderr) and which code to exit with.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailureReport {
  /** The code the process exits with. */
  readonly exitCode: ExitCode
  /** Lines for stderr; empty when everything was said already (e.g. the usage help). */
  readonly lines: ReadonlyArray<string>
}

const addressOrigin = ({ addressSource, engine }: ErrorOrigin): string => {
  const variable = engineFacts[engine].variable
  return addressSource === "flag"
    ? " (given with --address)"
    : addressSource === "environment"
    ? ` (from ${variable})`
    : addressSource === "default"
    ? ` (the default; give another one with --address PATH or ${variable})`
    : ""
}

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
 * What a person should read when the engine cannot be reached: the problem, then what to try.
 * Only a permission problem looks at the socket (its owner and mode), and only when asked for
 * the advice.
 *
 * @category formatting
 * @since 0.1.0
 */
export const describeUnavailable = (
  error: EngineUnavailable,
  origin: ErrorOrigin = containerdOrigin
): ReadonlyArray<string> => {
  const advice = unavailableAdvice(error, origin)
  return [unavailableProblem(error, origin), ...(advice === undefined ? [] : [advice])]
}

/**
 * The first line of {@link describeUnavailable}: what went wrong, without touching the file system
 * (the watch screen shows it on every redraw).
 *
 * @category formatting
 * @since 0.1.0
 */
export const unavailableProblem = (error: EngineUnavailable, origin: ErrorOrigin = containerdOrigin): string => {
  const address = error.address
  const { name } = engineFacts[origin.engine]
  switch (error.reason) {
    case "SocketNotFound":
      return `no ${name} socket at ${address}${addressOrigin(origin)}`
    case "PermissionDenied":
      return `permission denied on the ${name} socket ${address}`
    case "NotListening":
      return `nothing listens on the ${name} socket ${address} (connection refused)`
    case "NotASocket":
      return `${address}${addressOrigin(origin)} is not a socket`
    case "NotTheEngineApi":
      return `${address}${addressOrigin(origin)} is not a ${name} API socket${detail(error.detail)}`
    case "DeadlineExceeded":
      return `${name} at ${address} did not answer ${error.operation} in time${detail(error.detail)}`
    case "ConnectionLost":
      return `lost the connection to ${name} at ${address} during ${error.operation}${detail(error.detail)}`
    case "Unavailable":
      return `${name} at ${address} is unavailable${detail(error.detail)}`
    case "Closed":
      return `the connection to ${name} at ${address} was closed`
  }
}

const unavailableAdvice = (error: EngineUnavailable, origin: ErrorOrigin): string | undefined => {
  const { daemon, defaultAddress, name } = engineFacts[origin.engine]
  switch (error.reason) {
    case "SocketNotFound":
      return `Is ${daemon} running? Is the path right?`
    case "PermissionDenied": {
      const hint = socketAccessHint(error.address)
      return "Run as root (e.g. with sudo), or as a member of the group owning the socket" +
        (hint === undefined ? "." : `: ${hint}.`)
    }
    case "NotListening":
      return `Is ${daemon} running? A crashed ${daemon} leaves its socket file behind.`
    case "NotASocket":
      return `Is the address right? ${name}'s API socket is usually ${defaultAddress}.`
    case "NotTheEngineApi":
      return origin.engine === "containerd"
        ? `Is the address right? containerd's gRPC socket is usually ${defaultAddress} (not its .ttrpc socket).`
        : `Is the address right? ${name}'s API socket is usually ${defaultAddress}.`
    default:
      return undefined
  }
}

const detail = (text: string): string => (text === "" ? "" : ` (${text})`)

/**
 * The exit code and message for an engine error.
 *
 * @category formatting
 * @since 0.1.0
 */
export const describeEngineError = (error: EngineError, origin: ErrorOrigin = containerdOrigin): FailureReport => {
  switch (error._tag) {
    case "EngineUnavailable":
      return { exitCode: ExitCode.EngineUnavailable, lines: describeUnavailable(error, origin) }
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
 * The first line of an engine error's report, without touching the file system: for status lines
 * that are drawn again and again.
 *
 * @category formatting
 * @since 0.1.0
 */
export const engineProblem = (error: EngineError, origin: ErrorOrigin = containerdOrigin): string =>
  error._tag === "EngineUnavailable"
    ? unavailableProblem(error, origin)
    : describeEngineError(error, origin).lines[0] ?? error.message

/**
 * The report for whatever ended a command, or `undefined` when it ended well. Usage errors
 * found by the parser were printed by the parser already; interruptions (Ctrl-C) are a normal end.
 *
 * @category formatting
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
 * @category formatting
 * @since 0.1.0
 */
export const formatReport = (report: FailureReport): string =>
  report.lines.map((line, index) => `${index === 0 ? "whalewatcher: " : "  "}${terminalSafe(line)}`).join("\n")
