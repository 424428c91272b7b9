/**
 * What a `whalewatcher` subcommand fails with: a command line that does not make sense, or a
 * failure already described for people. {@link FailureReport} turns either into what is printed
 * and the exit code.
 *
 * @since 0.1.0
 */
import { type TaggedErrorClass, taggedError } from "../internal/taggedError.ts"
import type { FailureReport } from "./FailureReport.ts"

/**
 * Fields of {@link UsageError}.
 *
 * @category errors
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
 * @category errors
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
 * Fields of {@link CommandFailed}.
 *
 * @category errors
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
 * @category errors
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
