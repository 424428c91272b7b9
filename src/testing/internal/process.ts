/**
 * Running host programs to completion and collecting their output (for the sandboxes, the
 * benchmarks and the tests); signals by pid.
 * @internal
 */
import { spawn } from "node:child_process"
import { constants as osConstants } from "node:os"
import * as nodeProcess from "node:process"
import { Effect } from "effect"
import { SandboxError } from "./SandboxError.ts"

// runc lives in /usr/sbin on Debian: a PATH without the sbin directories must not hide it from
// containerd, which looks the runtime up on its own PATH.
export const systemBinaryDirectories: ReadonlyArray<string> = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin"
]

/** How a program ended, and what it printed. */
export interface ProcessOutput {
  /** Its exit code; 128 + the signal's number when a signal ended it. */
  readonly exitCode: number
  /** The signal that ended it, if one did. */
  readonly signal: NodeJS.Signals | undefined
  readonly stdout: string
  readonly stderr: string
}

/** A program while it runs, as {@link RunOptions.onOutput} sees it. */
export interface RunningProcess {
  /** The output so far. */
  readonly stdout: string
  readonly stderr: string
  /** Sends `signal` to the program, or to its whole process group (a `detached` program only). */
  readonly signal: (signal: NodeJS.Signals, target?: "process" | "group") => void
}

/** Options of {@link runProcess}. */
export interface RunOptions {
  readonly cwd?: string | undefined
  /** Added to the environment: ours, with the sbin directories on PATH (see {@link toolEnvironment}). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** The program is killed (SIGKILL) after this long; its stderr then ends with a line that says so. */
  readonly timeoutMillis?: number | undefined
  /** Runs the program in a process group of its own, so that a signal can reach its children too. */
  readonly detached?: boolean | undefined
  /** Called after every chunk of output, e.g. to signal the program once it printed a line. */
  readonly onOutput?: ((running: RunningProcess) => void) | undefined
}

/** The environment of every tool we start: ours, with the sbin directories on PATH. */
export const toolEnvironment = (): Record<string, string | undefined> => {
  const entries = (nodeProcess.env["PATH"] ?? "").split(":").filter((entry) => entry.length > 0)
  for (const directory of systemBinaryDirectories) {
    if (!entries.includes(directory)) entries.push(directory)
  }
  return { ...nodeProcess.env, PATH: entries.join(":") }
}

export const quoteArgument = (argument: string): string =>
  /^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replaceAll("'", `'\\''`)}'`

export const describeCommand = (file: string, args: ReadonlyArray<string>): string =>
  [file, ...args].map(quoteArgument).join(" ")

export const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * Runs a program to completion and collects its output. A non-zero exit code is a result here;
 * only failing to start the program is an error. Interrupting the effect kills the program (its
 * whole group when it is `detached`).
 */
export const runProcess = (
  operation: string,
  file: string,
  args: ReadonlyArray<string>,
  options: RunOptions = {}
): Effect.Effect<ProcessOutput, SandboxError> =>
  Effect.callback<ProcessOutput, SandboxError>((resume) => {
    let stdout = ""
    let stderr = ""
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      detached: options.detached === true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...toolEnvironment(), ...options.env }
    })
    // nodeProcess.kill rather than child.kill: Deno reports a child it signalled itself as killed
    // by that signal, whatever exit code the child chose.
    const signal = (name: NodeJS.Signals, target: "process" | "group" = "process") => {
      if (child.pid !== undefined) signalProcess(target === "group" ? -child.pid : child.pid, name)
    }
    const running: RunningProcess = {
      get stdout() {
        return stdout
      },
      get stderr() {
        return stderr
      },
      signal
    }
    const kill = () => signal("SIGKILL", options.detached === true ? "group" : "process")
    const timer = options.timeoutMillis === undefined ? undefined : setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMillis} ms)`
      kill()
    }, options.timeoutMillis)
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk
      options.onOutput?.(running)
    })
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
      options.onOutput?.(running)
    })
    child.once("error", (cause) => {
      clearTimeout(timer)
      resume(Effect.fail(
        new SandboxError({
          operation,
          message: `cannot run ${file}: ${cause.message}`,
          command: describeCommand(file, args)
        })
      ))
    })
    child.once("close", (code, signalName) => {
      clearTimeout(timer)
      const exitCode = code ?? 128 + (signalName === null ? 0 : osConstants.signals[signalName])
      resume(Effect.succeed({ exitCode, signal: signalName ?? undefined, stdout, stderr }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      if (child.exitCode === null && child.signalCode === null) kill()
    })
  })

export const commandFailed = (
  operation: string,
  file: string,
  args: ReadonlyArray<string>,
  output: ProcessOutput
): SandboxError =>
  new SandboxError({
    operation,
    message: `${file} exited with code ${output.exitCode}: ${output.stderr.trim() || output.stdout.trim()}`,
    command: describeCommand(file, args),
    stderr: output.stderr
  })

/** Runs a program and fails unless it exits with 0; returns its stdout. */
export const runChecked = (
  operation: string,
  file: string,
  args: ReadonlyArray<string>
): Effect.Effect<string, SandboxError> =>
  Effect.flatMap(
    runProcess(operation, file, args),
    (output) =>
      output.exitCode === 0 ? Effect.succeed(output.stdout) : Effect.fail(commandFailed(operation, file, args, output))
  )

/** Sends `signal` to `pid` (a negative one: to that process group), unless it is gone already. */
export const signalProcess = (pid: number, signal: NodeJS.Signals): void => {
  try {
    nodeProcess.kill(pid, signal)
  } catch {
    // Already gone.
  }
}
