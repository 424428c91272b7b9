/**
 * A sandbox's daemon (containerd, dockerd, podman's API service): launched detached in its own
 * session with a pid file and a log, found again by pid file and command line (pids are reused),
 * waited for until it answers, stopped with SIGTERM and then SIGKILL.
 * @internal
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import { Effect } from "effect"
import { attempt, logTail } from "./directory.ts"
import { describeCommand, signalProcess, toolEnvironment } from "./process.ts"
import { isProcessRunning, readCommandLine } from "../../internal/procfs.ts"
import { waitForExit } from "./procfs.ts"
import { SandboxError } from "./SandboxError.ts"
import { waitUntil } from "./waiting.ts"

/** How long a process may take to go away after SIGKILL. */
export const processExitTimeoutMillis = 5_000

/** How to run one daemon of a sandbox. */
export interface DaemonSpec {
  /** A name for messages, e.g. "containerd". */
  readonly name: string
  /** The program and its arguments. */
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Extra environment variables (on top of ours, with the sbin directories on PATH). */
  readonly environment?: Readonly<Record<string, string | undefined>>
  /** Where its pid is written. */
  readonly pidFile: string
  /** Where its stdout and stderr go. */
  readonly logFile: string
  /** An argument only this sandbox's instance has (e.g. its config file): tells it from a reused pid. */
  readonly marker: string
  /** True once the daemon answers on its socket. */
  readonly answers: Effect.Effect<boolean, SandboxError>
}

/** The pid of this sandbox's daemon, if one runs. */
export const findRunningDaemon = (spec: DaemonSpec): Effect.Effect<number | undefined> =>
  Effect.promise(async () => {
    let pid: number
    try {
      pid = Number((await fs.readFile(spec.pidFile, "utf8")).trim())
    } catch {
      return undefined
    }
    // The pid may have been reused since: it is ours only if it runs with our marker.
    if (!Number.isInteger(pid) || pid <= 0 || !(await isProcessRunning(pid))) return undefined
    return (await readCommandLine(pid)).includes(spec.marker) ? pid : undefined
  })

/** Spawns the daemon in its own session, so it outlives neither more nor less than we decide. */
const launchDaemon = (spec: DaemonSpec): Effect.Effect<number, SandboxError> =>
  attempt("start", `cannot start ${spec.name}`, async () => {
    const log = await fs.open(spec.logFile, "a")
    try {
      const environment: Record<string, string | undefined> = { ...toolEnvironment(), ...spec.environment }
      // An unset variable must not reach the daemon as the string "undefined".
      for (const key of Object.keys(environment)) if (environment[key] === undefined) delete environment[key]
      const child = spawn(spec.command, [...spec.args], {
        detached: true,
        stdio: ["ignore", log.fd, log.fd],
        env: environment
      })
      const pid = child.pid
      if (pid === undefined) {
        throw await new Promise<Error>((resolve) => child.once("error", resolve))
      }
      child.unref()
      await fs.writeFile(spec.pidFile, String(pid))
      return pid
    } finally {
      await log.close()
    }
  })

const waitUntilReady = (spec: DaemonSpec, pid: number, timeoutMillis: number): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const exited = { value: false }
    const ready = yield* waitUntil(
      Effect.gen(function*() {
        if (!(yield* Effect.promise(() => isProcessRunning(pid)))) {
          exited.value = true
          return true
        }
        return yield* spec.answers
      }),
      timeoutMillis
    )
    if (ready && !exited.value) return
    const reason = exited.value
      ? `${spec.name} exited during startup`
      : `${spec.name} did not answer within ${timeoutMillis} ms`
    return yield* new SandboxError({
      operation: "start",
      message: `${reason}; end of ${spec.logFile}:\n${yield* logTail(spec.logFile)}`,
      command: describeCommand(spec.command, spec.args)
    })
  })

/** Starts the daemon and waits until it answers; if it does not, it is killed again. */
export const startDaemon = (spec: DaemonSpec, readyTimeoutMillis: number): Effect.Effect<number, SandboxError> =>
  Effect.gen(function*() {
    const pid = yield* Effect.uninterruptible(launchDaemon(spec))
    yield* waitUntilReady(spec, pid, readyTimeoutMillis).pipe(
      Effect.onError(() =>
        Effect.gen(function*() {
          signalProcess(pid, "SIGKILL")
          yield* waitForExit([pid], processExitTimeoutMillis)
        })
      )
    )
    return pid
  })

/** SIGTERM, then SIGKILL after `graceMillis`; fails only if the daemon survives both. */
export const stopDaemon = (spec: DaemonSpec, pid: number, graceMillis: number): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    signalProcess(pid, "SIGTERM")
    if (yield* waitForExit([pid], graceMillis)) return
    signalProcess(pid, "SIGKILL")
    if (yield* waitForExit([pid], processExitTimeoutMillis)) return
    return yield* new SandboxError({
      operation: "stop",
      message: `${spec.name} (pid ${pid}) survived SIGTERM and SIGKILL; end of ${spec.logFile}:\n${yield* logTail(spec.logFile)}`
    })
  })

/** SIGKILL, as a crash would; fails if the daemon survives it. */
export const killDaemon = (spec: DaemonSpec, operation: string): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const pid = yield* findRunningDaemon(spec)
    if (pid === undefined) return
    signalProcess(pid, "SIGKILL")
    if (!(yield* waitForExit([pid], processExitTimeoutMillis))) {
      return yield* new SandboxError({ operation, message: `${spec.name} (pid ${pid}) survived SIGKILL` })
    }
  })
