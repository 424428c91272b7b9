/**
 * The exit codes of the `whalewatcher` command: which kind of outcome a script sees, and the
 * table `--help` prints.
 *
 * @since 0.1.0
 */

/**
 * The exit codes, documented in `--help`.
 *
 * @category constants
 * @since 0.1.0
 */
export const ExitCode: {
  /** Done; also when watch or events end on Ctrl-C / SIGTERM. */
  readonly Ok: 0
  /** inspect: no such container, or one without a running process. */
  readonly NotFound: 1
  /** The command line is wrong: unknown command or flag, bad or conflicting values. */
  readonly Usage: 2
  /** The engine cannot be reached: no socket, permission denied, nothing listening, connection lost. */
  readonly EngineUnavailable: 3
  /** The engine refused a request, or something unexpected broke. */
  readonly Failed: 4
} = { Ok: 0, NotFound: 1, Usage: 2, EngineUnavailable: 3, Failed: 4 }

/**
 * One of the {@link ExitCode} values.
 *
 * @category models
 * @since 0.1.0
 */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode]

/**
 * The exit codes and their meaning, as `--help` lists them.
 *
 * @category constants
 * @since 0.1.0
 */
export const exitCodeHelp: ReadonlyArray<readonly [code: ExitCode, meaning: string]> = [
  [ExitCode.Ok, "success (watch and events: ended by Ctrl-C or SIGTERM)"],
  [ExitCode.NotFound, "inspect: no such container, or it has no running process"],
  [ExitCode.Usage, "usage error: unknown command or flag, bad or conflicting values"],
  [ExitCode.EngineUnavailable, "engine unavailable: no socket, permission denied, not listening, connection lost"],
  [ExitCode.Failed, "the engine refused a request, or an unexpected error"]
]
