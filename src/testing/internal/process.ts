/**
 * Running host programs for the sandboxes to completion and collecting their output; signals by pid.
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

export interface ProcessOutput {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
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
 * only failing to start the program is an error. Interrupting the effect kills the program.
 */
export const runProcess = (
  operation: string,
  file: string,
  args: ReadonlyArray<string>,
  extraEnvironment: Readonly<Record<string, string>> = {}
): Effect.Effect<ProcessOutput, SandboxError> =>
  Effect.callback<ProcessOutput, SandboxError>((resume) => {
    let stdout = ""
    let stderr = ""
    const child = spawn(file, [...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...toolEnvironment(), ...extraEnvironment }
    })
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
    })
    child.once("error", (cause) => {
      resume(Effect.fail(
        new SandboxError({
          operation,
          message: `cannot run ${file}: ${cause.message}`,
          command: describeCommand(file, args)
        })
      ))
    })
    child.once("close", (code, signal) => {
      const exitCode = code ?? 128 + (signal === null ? 0 : osConstants.signals[signal])
      resume(Effect.succeed({ exitCode, stdout, stderr }))
    })
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
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

export const signalProcess = (pid: number, signal: "SIGTERM" | "SIGKILL"): void => {
  try {
    nodeProcess.kill(pid, signal)
  } catch {
    // Already gone.
  }
}
