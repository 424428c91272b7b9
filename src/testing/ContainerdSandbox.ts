/**
 * A real, private containerd for integration tests, as an Effect scoped layer.
 *
 * Acquiring the layer installs containerd / runc / busybox-static when they are missing (root only),
 * creates a short private directory (`/tmp/wws-XXXXXX`), starts `containerd` on a socket inside it and
 * builds a busybox root filesystem that containers run from, so no image is ever pulled.
 * Releasing it kills every task, deletes every container, stops containerd and removes every trace:
 * processes, mounts, cgroups, runc state and the directory itself.
 *
 * The directory holds `config.toml`, `containerd.sock`, `containerd.log`, `containerd.pid` and
 * `owner.pid` (pid and start time of the process that owns the sandbox). When a new sandbox starts,
 * sibling directories whose owner is gone are left-overs of a crashed run and are cleaned up.
 *
 * Processes are driven through `node:child_process`, files through `node:fs`: it runs under Node,
 * Deno and Bun. Waiting uses real timers, so it also works inside tests that run with a TestClock.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { constants as fsConstants } from "node:fs"
import * as fs from "node:fs/promises"
import { constants as osConstants } from "node:os"
import * as nodePath from "node:path"
import * as nodeProcess from "node:process"
import { type Cause, Context, Duration, Effect, Layer, Schema, type Scope, Semaphore } from "effect"

// -----------------------------------------------------------------------------
// Public types
// -----------------------------------------------------------------------------

const SandboxErrorBase: Schema.Class<
  SandboxError,
  Schema.TaggedStruct<"SandboxError", {
    readonly operation: Schema.String
    readonly message: Schema.String
    readonly command: Schema.optionalKey<Schema.String>
    readonly stderr: Schema.optionalKey<Schema.String>
  }>,
  Cause.YieldableError
> = Schema.TaggedError<SandboxError>()("SandboxError", {
  operation: Schema.String,
  message: Schema.String,
  command: Schema.optionalKey(Schema.String),
  stderr: Schema.optionalKey(Schema.String)
})

/**
 * Anything the sandbox could not do: a missing tool, containerd not becoming ready, a failing `ctr`
 * command. `operation` names the sandbox operation (`"start"`, `"run"`, `"exec"`, ...), `command` the
 * command line that failed and `stderr` what it printed.
 *
 * @since 0.1.0
 * @category errors
 */
export class SandboxError extends SandboxErrorBase {}

/**
 * State of a task as `ctr tasks ls` prints it.
 *
 * @since 0.1.0
 * @category models
 */
export type TaskStatus = "CREATED" | "RUNNING" | "PAUSED" | "PAUSING" | "STOPPED" | "UNKNOWN"

/**
 * One line of `ctr tasks ls`: the container id, the host pid of its init process and its status.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxTask {
  /** The container id. */
  readonly id: string
  /** Host pid of the task's init process. */
  readonly pid: number
  /** The task's status as `ctr tasks ls` reports it. */
  readonly status: TaskStatus
}

/**
 * What to run with {@link ContainerdSandboxShape.run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Container id, unique within its namespace. */
  readonly id: string
  /** containerd namespace; created implicitly. Default `"default"`. */
  readonly namespace?: string
  /** Container labels, e.g. `{ "nerdctl/name": "web" }`. */
  readonly labels?: Readonly<Record<string, string>>
  /** Command of the init process inside the busybox rootfs. Default `["/bin/sleep", "100000"]`. */
  readonly command?: ReadonlyArray<string>
}

/**
 * What to create with {@link ContainerdSandboxShape.create}: a container without a task.
 *
 * @since 0.1.0
 * @category models
 */
export interface CreateOptions {
  /** Container id, unique within its namespace. */
  readonly id: string
  /** containerd namespace; created implicitly. Default `"default"`. */
  readonly namespace?: string
  /** Container labels. */
  readonly labels?: Readonly<Record<string, string>>
  /** Command recorded in the container's spec. Default `["/bin/sleep", "100000"]`. */
  readonly command?: ReadonlyArray<string>
}

/**
 * What to run with {@link ContainerdSandboxShape.exec}: an extra process in a running task.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecOptions {
  /** Container id of the running task. */
  readonly id: string
  /** containerd namespace. Default `"default"`. */
  readonly namespace?: string
  /** Id of the exec'd process, unique within the task. Default: a generated one. */
  readonly execId?: string
  /** The command to run, e.g. `["/bin/sh", "-c", "exit 3"]`. */
  readonly command: ReadonlyArray<string>
}

/**
 * Settings of a sandbox. All optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContainerdSandboxOptions {
  /**
   * `mkdtemp` prefix of the private directory. Default `"/tmp/wws-"`. Keep it short: the socket path
   * inside must fit a unix socket address (107 bytes). Stale sandboxes are looked for among the
   * directories with the same prefix.
   */
  readonly directoryPrefix?: string
  /** How long containerd may take to answer after a (re)start. Default 30 seconds. */
  readonly readyTimeout?: Duration.Input
  /** How long containerd may take to exit after SIGTERM before it gets SIGKILL. Default 10 seconds. */
  readonly stopTimeout?: Duration.Input
  /** Install missing packages with apt-get when running as root. Default `true`. */
  readonly installMissingPackages?: boolean
  /** Clean up sandboxes left by crashed runs before starting. Default `true`. */
  readonly sweepStaleSandboxes?: boolean
}

/**
 * The running sandbox: where containerd listens and how to drive it. Every method runs independent
 * `ctr` processes, so they may be called concurrently.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContainerdSandboxShape {
  /** Path of containerd's gRPC unix socket. */
  readonly socketPath: string
  /** The private directory holding config, socket, state, log and rootfs. */
  readonly directory: string
  /** The busybox root filesystem every container runs from. */
  readonly rootfs: string
  /** Starts a detached container and returns the host pid of its init process. */
  readonly run: (options: RunOptions) => Effect.Effect<number, SandboxError>
  /** Creates a container that has no task. */
  readonly create: (options: CreateOptions) => Effect.Effect<void, SandboxError>
  /** Freezes a running task (status PAUSED). */
  readonly pause: (namespace: string, id: string) => Effect.Effect<void, SandboxError>
  /** Thaws a paused task (status RUNNING). */
  readonly resume: (namespace: string, id: string) => Effect.Effect<void, SandboxError>
  /**
   * Runs a process inside a running task and returns its exit code. A non-zero exit code is a
   * result; failing to start the process (e.g. while the task is paused) is a `SandboxError`.
   */
  readonly exec: (options: ExecOptions) => Effect.Effect<number, SandboxError>
  /** Sends SIGKILL to a task and waits until it is STOPPED. */
  readonly kill: (namespace: string, id: string) => Effect.Effect<void, SandboxError>
  /** Kills the task if it is alive, deletes it, then deletes the container. */
  readonly remove: (namespace: string, id: string) => Effect.Effect<void, SandboxError>
  /** Sets labels on an existing container (`ctr containers label`); an empty value removes a label. */
  readonly label: (
    namespace: string,
    id: string,
    labels: Readonly<Record<string, string>>
  ) => Effect.Effect<void, SandboxError>
  /** The tasks of a namespace, sorted by id; stopped ones are listed until they are deleted. */
  readonly tasks: (namespace: string) => Effect.Effect<ReadonlyArray<SandboxTask>, SandboxError>
  /** The ids of the containers of a namespace, with or without a task, sorted. */
  readonly containers: (namespace: string) => Effect.Effect<ReadonlyArray<string>, SandboxError>
  /** The namespaces containerd knows, sorted. */
  readonly namespaces: () => Effect.Effect<ReadonlyArray<string>, SandboxError>
  /**
   * Runs `ctr` with the given arguments against this containerd, in `namespace` if given, and returns
   * its stdout; a non-zero exit is a `SandboxError` carrying ctr's stderr.
   */
  readonly ctr: (args: ReadonlyArray<string>, namespace?: string) => Effect.Effect<string, SandboxError>
  /** Stops containerd with SIGTERM and waits for it to exit; containers keep running. */
  readonly stop: Effect.Effect<void, SandboxError>
  /** Starts containerd again on the same config and waits until it answers; it re-attaches to tasks. */
  readonly start: Effect.Effect<void, SandboxError>
  /** Kills containerd with SIGKILL, as a crash would; containers keep running. */
  readonly kill9: Effect.Effect<void, SandboxError>
}

const ContainerdSandboxBase: Context.ServiceClass<
  ContainerdSandbox,
  "effect-whalewatcher/testing/ContainerdSandbox",
  ContainerdSandboxShape
> = Context.Service<ContainerdSandbox, ContainerdSandboxShape>()("effect-whalewatcher/testing/ContainerdSandbox")

/**
 * A private containerd with a busybox rootfs, for integration tests. Needs Linux and root.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ContainerdSandbox } from "effect-whalewatcher/testing"
 *
 * const program = Effect.gen(function*() {
 *   const sandbox = yield* ContainerdSandbox.ContainerdSandbox
 *   const pid = yield* sandbox.run({ id: "web", namespace: "shop", labels: { "nerdctl/name": "web" } })
 *   const exitCode = yield* sandbox.exec({ namespace: "shop", id: "web", command: ["/bin/sh", "-c", "exit 3"] })
 *   return { pid, exitCode, socket: sandbox.socketPath }
 * }).pipe(Effect.provide(ContainerdSandbox.layer()))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class ContainerdSandbox extends ContainerdSandboxBase {
  /** Same as the module's {@link layer}. */
  static layer(options?: ContainerdSandboxOptions): Layer.Layer<ContainerdSandbox, SandboxError> {
    return layer(options)
  }
}

// -----------------------------------------------------------------------------
// Constants
// -----------------------------------------------------------------------------

const defaultDirectoryPrefix = "/tmp/wws-"
const defaultNamespace = "default"
const defaultCommand: ReadonlyArray<string> = ["/bin/sleep", "100000"]
const hostBusybox = "/bin/busybox"
const requiredTools: ReadonlyArray<string> = ["containerd", "containerd-shim-runc-v2", "runc", "ctr"]
const aptPackages: ReadonlyArray<string> = ["containerd", "runc", "busybox-static"]
// runc lives in /usr/sbin on Debian: a PATH without the sbin directories must not hide it from
// containerd, which looks the runtime up on its own PATH.
const systemBinaryDirectories: ReadonlyArray<string> = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin"
]
// sun_path is 108 bytes including the terminating NUL.
const maxSocketPathBytes = 107
// Where the runc shim of containerd 1.6 keeps state outside our directory, whatever the config says.
const runcStateRoot = "/run/containerd/runc"
const shimSocketDirectory = "/run/containerd/s"
const cgroupRoot = "/sys/fs/cgroup"
// containerd's own rule for namespace names and container ids; checked before they become paths.
const containerdIdentifier = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/
const pollIntervalMillis = 50
const taskStopTimeoutMillis = 10_000
const processExitTimeoutMillis = 5_000
const ctrConnectTimeout = "5s"

// -----------------------------------------------------------------------------
// Layer and constructor
// -----------------------------------------------------------------------------

/**
 * Starts a sandbox in the current scope and returns its shape; closing the scope tears it down.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: ContainerdSandboxOptions = {}
): Effect.Effect<ContainerdSandboxShape, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = resolveSettings(options)
    yield* ensureHostTools(settings)
    if (settings.sweepStaleSandboxes) {
      yield* sweepStaleSandboxes(settings).pipe(
        Effect.ignoreCause({ log: "Warn", message: "ContainerdSandbox: sweeping stale sandboxes failed" })
      )
    }

    const tracking: SandboxTracking = { containersByNamespace: new Map() }
    // Released last: whatever the graceful shutdown left, the directory finalizer removes by force.
    const paths = yield* Effect.acquireRelease(
      createSandboxDirectory(settings.directoryPrefix),
      (paths) =>
        removeSandboxLeftovers(paths, tracking).pipe(
          Effect.ignoreCause({ log: "Warn", message: `ContainerdSandbox: removing ${paths.directory} failed` })
        )
    )
    yield* writeContainerdConfig(paths)
    yield* buildBusyboxRootfs(paths.rootfs)

    // start / stop / kill9 and the finalizer all change which containerd runs: one at a time.
    const lifecycle = yield* Semaphore.make(1)
    yield* Effect.acquireRelease(
      startContainerd(paths, settings.readyTimeoutMillis),
      () =>
        lifecycle.withPermits(1)(drainAndStopContainerd(paths, tracking, settings)).pipe(
          Effect.ignoreCause({ log: "Warn", message: "ContainerdSandbox: stopping containerd failed" })
        )
    )

    return makeShape(paths, tracking, settings, lifecycle)
  })

/**
 * A layer providing {@link ContainerdSandbox}: one private containerd for the layer's lifetime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: ContainerdSandboxOptions): Layer.Layer<ContainerdSandbox, SandboxError> =>
  Layer.effect(ContainerdSandbox, make(options))

interface SandboxSettings {
  readonly directoryPrefix: string
  readonly readyTimeoutMillis: number
  readonly stopTimeoutMillis: number
  readonly installMissingPackages: boolean
  readonly sweepStaleSandboxes: boolean
}

const resolveSettings = (options: ContainerdSandboxOptions): SandboxSettings => ({
  directoryPrefix: options.directoryPrefix ?? defaultDirectoryPrefix,
  readyTimeoutMillis: Duration.toMillis(options.readyTimeout ?? Duration.seconds(30)),
  stopTimeoutMillis: Duration.toMillis(options.stopTimeout ?? Duration.seconds(10)),
  installMissingPackages: options.installMissingPackages ?? true,
  sweepStaleSandboxes: options.sweepStaleSandboxes ?? true
})

/** Namespaces and container ids this sandbox has touched: teardown removes their host-side traces. */
interface SandboxTracking {
  readonly containersByNamespace: Map<string, Set<string>>
}

const remember = (tracking: SandboxTracking, namespace: string, containerId?: string): void => {
  let containers = tracking.containersByNamespace.get(namespace)
  if (containers === undefined) {
    containers = new Set()
    tracking.containersByNamespace.set(namespace, containers)
  }
  if (containerId !== undefined) containers.add(containerId)
}

// -----------------------------------------------------------------------------
// The shape
// -----------------------------------------------------------------------------

const makeShape = (
  paths: SandboxPaths,
  tracking: SandboxTracking,
  settings: SandboxSettings,
  lifecycle: Semaphore.Semaphore
): ContainerdSandboxShape => {
  const ctrIn = (operation: string, namespace: string | undefined, args: ReadonlyArray<string>) => {
    if (namespace !== undefined) remember(tracking, namespace)
    return runCtr(operation, paths.socketPath, namespace, args)
  }

  const tasks = (namespace: string) => listTasks(paths.socketPath, namespace)

  const findTask = (namespace: string, id: string) =>
    Effect.map(tasks(namespace), (all) => all.find((task) => task.id === id))

  const run = Effect.fn("ContainerdSandbox.run")(function*(options: RunOptions) {
    const namespace = options.namespace ?? defaultNamespace
    remember(tracking, namespace, options.id)
    // ctr 1.6: `--rootfs` is a boolean flag and the rootfs directory is the first positional argument,
    // so every other flag has to come before it.
    yield* ctrIn("run", namespace, [
      "run",
      "--detach",
      "--null-io",
      ...labelFlags(options.labels),
      "--rootfs",
      paths.rootfs,
      options.id,
      ...(options.command ?? defaultCommand)
    ])
    const task = yield* findTask(namespace, options.id)
    if (task === undefined) {
      return yield* new SandboxError({
        operation: "run",
        message: `container ${options.id} in namespace ${namespace} started but has no task`
      })
    }
    return task.pid
  })

  const create = Effect.fn("ContainerdSandbox.create")(function*(options: CreateOptions) {
    const namespace = options.namespace ?? defaultNamespace
    remember(tracking, namespace, options.id)
    // Same positional rule as `run`: without `--rootfs` the first argument would be an image name.
    yield* ctrIn("create", namespace, [
      "containers",
      "create",
      ...labelFlags(options.labels),
      "--rootfs",
      paths.rootfs,
      options.id,
      ...(options.command ?? defaultCommand)
    ])
  })

  const pause = Effect.fn("ContainerdSandbox.pause")(function*(namespace: string, id: string) {
    yield* ctrIn("pause", namespace, ["tasks", "pause", id])
  })

  const resume = Effect.fn("ContainerdSandbox.resume")(function*(namespace: string, id: string) {
    yield* ctrIn("resume", namespace, ["tasks", "resume", id])
  })

  let execCounter = 0
  const exec = Effect.fn("ContainerdSandbox.exec")(function*(options: ExecOptions) {
    const namespace = options.namespace ?? defaultNamespace
    remember(tracking, namespace)
    execCounter += 1
    const execId = options.execId ?? `exec-${execCounter}-${Math.random().toString(36).slice(2, 8)}`
    // The process' stdio goes through fifos: keep them in our directory instead of /run/containerd/fifo.
    const args = ctrArguments(paths.socketPath, namespace, [
      "tasks",
      "exec",
      "--fifo-dir",
      paths.fifoDirectory,
      "--exec-id",
      execId,
      options.id,
      ...options.command
    ])
    const output = yield* runProcess("exec", "ctr", args)
    // ctr exits with the exit code of the exec'd process, and with 1 plus a "ctr: ..." line when it
    // could not run it at all: only the latter is an error.
    if (output.exitCode !== 0 && /^ctr: /m.test(output.stderr)) {
      return yield* commandFailed("exec", "ctr", args, output)
    }
    return output.exitCode
  })

  const waitUntilStopped = (namespace: string, id: string) =>
    waitUntil(
      Effect.map(findTask(namespace, id), (task) => task === undefined || task.status === "STOPPED"),
      taskStopTimeoutMillis
    )

  const kill = Effect.fn("ContainerdSandbox.kill")(function*(namespace: string, id: string) {
    yield* ctrIn("kill", namespace, ["tasks", "kill", "--signal", "SIGKILL", id])
    if (!(yield* waitUntilStopped(namespace, id))) {
      return yield* new SandboxError({
        operation: "kill",
        message: `task ${id} in namespace ${namespace} did not stop within ${taskStopTimeoutMillis} ms of SIGKILL`
      })
    }
  })

  const remove = Effect.fn("ContainerdSandbox.remove")(function*(namespace: string, id: string) {
    const task = yield* findTask(namespace, id)
    if (task !== undefined) {
      if (task.status !== "STOPPED") yield* kill(namespace, id)
      yield* ctrIn("remove", namespace, ["tasks", "delete", id])
    }
    yield* ctrIn("remove", namespace, ["containers", "delete", id])
  })

  const label = Effect.fn("ContainerdSandbox.label")(
    function*(namespace: string, id: string, labels: Readonly<Record<string, string>>) {
      const assignments = Object.entries(labels).map(([key, value]) => `${key}=${value}`)
      if (assignments.length === 0) return
      yield* ctrIn("label", namespace, ["containers", "label", id, ...assignments])
    }
  )

  const containers = (namespace: string) => listContainers(paths.socketPath, namespace)

  const namespaces = () => listNamespaces(paths.socketPath)

  const ctr = (args: ReadonlyArray<string>, namespace?: string) => ctrIn("ctr", namespace, args)

  const stop = lifecycle.withPermits(1)(
    Effect.gen(function*() {
      const pid = yield* findRunningContainerd(paths)
      if (pid !== undefined) yield* stopContainerd(paths, pid, settings.stopTimeoutMillis)
    })
  ).pipe(Effect.withSpan("ContainerdSandbox.stop"))

  const start = lifecycle.withPermits(1)(
    Effect.gen(function*() {
      const pid = yield* findRunningContainerd(paths)
      if (pid === undefined) yield* startContainerd(paths, settings.readyTimeoutMillis)
    })
  ).pipe(Effect.withSpan("ContainerdSandbox.start"))

  const kill9 = lifecycle.withPermits(1)(
    Effect.gen(function*() {
      const pid = yield* findRunningContainerd(paths)
      if (pid === undefined) return
      signalProcess(pid, "SIGKILL")
      if (!(yield* waitForExit([pid], processExitTimeoutMillis))) {
        return yield* new SandboxError({ operation: "kill9", message: `containerd (pid ${pid}) survived SIGKILL` })
      }
    })
  ).pipe(Effect.withSpan("ContainerdSandbox.kill9"))

  return ContainerdSandbox.of({
    socketPath: paths.socketPath,
    directory: paths.directory,
    rootfs: paths.rootfs,
    run,
    create,
    pause,
    resume,
    exec,
    kill,
    remove,
    label,
    tasks,
    containers,
    namespaces,
    ctr,
    stop,
    start,
    kill9
  })
}

const labelFlags = (labels: Readonly<Record<string, string>> | undefined): ReadonlyArray<string> =>
  Object.entries(labels ?? {}).flatMap(([key, value]) => ["--label", `${key}=${value}`])

// -----------------------------------------------------------------------------
// Running processes
// -----------------------------------------------------------------------------

interface ProcessOutput {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

/** The environment of every tool we start: ours, with the sbin directories on PATH. */
const toolEnvironment = (): Record<string, string | undefined> => {
  const entries = (nodeProcess.env["PATH"] ?? "").split(":").filter((entry) => entry.length > 0)
  for (const directory of systemBinaryDirectories) {
    if (!entries.includes(directory)) entries.push(directory)
  }
  return { ...nodeProcess.env, PATH: entries.join(":") }
}

const quoteArgument = (argument: string): string =>
  /^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replaceAll("'", `'\\''`)}'`

const describeCommand = (file: string, args: ReadonlyArray<string>): string =>
  [file, ...args].map(quoteArgument).join(" ")

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * Runs a program to completion and collects its output. A non-zero exit code is a result here;
 * only failing to start the program is an error. Interrupting the effect kills the program.
 */
const runProcess = (
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

const commandFailed = (
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
const runChecked = (
  operation: string,
  file: string,
  args: ReadonlyArray<string>
): Effect.Effect<string, SandboxError> =>
  Effect.flatMap(
    runProcess(operation, file, args),
    (output) =>
      output.exitCode === 0 ? Effect.succeed(output.stdout) : Effect.fail(commandFailed(operation, file, args, output))
  )

const ctrArguments = (
  socketPath: string,
  namespace: string | undefined,
  args: ReadonlyArray<string>
): ReadonlyArray<string> => [
  "--address",
  socketPath,
  "--connect-timeout",
  ctrConnectTimeout,
  ...(namespace === undefined ? [] : ["--namespace", namespace]),
  ...args
]

const runCtr = (
  operation: string,
  socketPath: string,
  namespace: string | undefined,
  args: ReadonlyArray<string>
): Effect.Effect<string, SandboxError> => runChecked(operation, "ctr", ctrArguments(socketPath, namespace, args))

const outputLines = (output: string): ReadonlyArray<string> =>
  output.split("\n").map((line) => line.trim()).filter((line) => line.length > 0)

const taskStatuses: ReadonlyArray<TaskStatus> = ["CREATED", "RUNNING", "PAUSED", "PAUSING", "STOPPED", "UNKNOWN"]

const parseTaskStatus = (text: string): TaskStatus => taskStatuses.find((status) => status === text) ?? "UNKNOWN"

/** Parses `ctr tasks ls`: a header line, then `ID PID STATUS` per task. */
const parseTaskList = (output: string): ReadonlyArray<SandboxTask> =>
  outputLines(output).slice(1).flatMap((line) => {
    const [id, pid, status] = line.split(/\s+/)
    return id === undefined || pid === undefined || status === undefined
      ? []
      : [{ id, pid: Number(pid), status: parseTaskStatus(status) }]
  })

// ctr lists in no particular order (it changes when containerd restarts): sort, so results compare.
const byId = (a: SandboxTask, b: SandboxTask): number => a.id < b.id ? -1 : a.id > b.id ? 1 : 0

const sortedLines = (output: string): ReadonlyArray<string> => [...outputLines(output)].sort()

const listTasks = (socketPath: string, namespace: string): Effect.Effect<ReadonlyArray<SandboxTask>, SandboxError> =>
  Effect.map(runCtr("tasks", socketPath, namespace, ["tasks", "ls"]), (output) => [...parseTaskList(output)].sort(byId))

const listContainers = (socketPath: string, namespace: string): Effect.Effect<ReadonlyArray<string>, SandboxError> =>
  Effect.map(runCtr("containers", socketPath, namespace, ["containers", "ls", "--quiet"]), sortedLines)

const listNamespaces = (socketPath: string): Effect.Effect<ReadonlyArray<string>, SandboxError> =>
  Effect.map(runCtr("namespaces", socketPath, undefined, ["namespaces", "ls", "--quiet"]), sortedLines)

// -----------------------------------------------------------------------------
// Waiting, with real timers
// -----------------------------------------------------------------------------

// Real timers on purpose: the sandbox waits for real processes, also inside tests that run with a
// TestClock, where Effect.sleep would only advance when the test adjusts the clock.
const sleepMillis = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/** Polls `condition` until it holds (true) or `timeoutMillis` passed (false). */
const waitUntil = <E>(condition: Effect.Effect<boolean, E>, timeoutMillis: number): Effect.Effect<boolean, E> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      if (yield* condition) return true
      if (Date.now() >= deadline) return false
      yield* sleepMillis(pollIntervalMillis)
    }
  })

// -----------------------------------------------------------------------------
// Processes, seen through /proc
// -----------------------------------------------------------------------------

interface ProcessStatus {
  readonly state: string
  readonly parentPid: number
  readonly startTime: string
}

const readProcessStatus = async (pid: number): Promise<ProcessStatus | undefined> => {
  try {
    const text = await fs.readFile(`/proc/${pid}/stat`, "utf8")
    // The command name in parentheses may contain spaces and parentheses: fields start after the last ")".
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0] ?? "", parentPid: Number(fields[1]), startTime: fields[19] ?? "" }
  } catch {
    return undefined
  }
}

const isLive = (status: ProcessStatus | undefined): status is ProcessStatus =>
  status !== undefined && status.state !== "Z" && status.state !== "X"

const isProcessRunning = async (pid: number): Promise<boolean> => isLive(await readProcessStatus(pid))

const readCommandLine = async (pid: number): Promise<ReadonlyArray<string>> => {
  try {
    const text = await fs.readFile(`/proc/${pid}/cmdline`, "utf8")
    return text.split("\0").filter((argument, index, all) => argument.length > 0 || index < all.length - 1)
  } catch {
    return []
  }
}

interface ProcessInfo {
  readonly pid: number
  readonly parentPid: number
  readonly commandLine: ReadonlyArray<string>
}

const scanProcesses = async (): Promise<ReadonlyArray<ProcessInfo>> => {
  const pids = (await fs.readdir("/proc")).filter((entry) => /^\d+$/.test(entry)).map(Number)
  const found = await Promise.all(pids.map(async (pid) => {
    const status = await readProcessStatus(pid)
    if (!isLive(status)) return undefined
    return { pid, parentPid: status.parentPid, commandLine: await readCommandLine(pid) }
  }))
  return found.filter((info): info is ProcessInfo => info !== undefined)
}

const signalProcess = (pid: number, signal: "SIGTERM" | "SIGKILL"): void => {
  try {
    nodeProcess.kill(pid, signal)
  } catch {
    // Already gone.
  }
}

const waitForExit = (pids: ReadonlyArray<number>, timeoutMillis: number): Effect.Effect<boolean> =>
  waitUntil(
    Effect.promise(async () => !(await Promise.all(pids.map(isProcessRunning))).includes(true)),
    timeoutMillis
  )

/** Identifies a process across pid reuse: its pid plus its start time since boot. */
const processIdentity = async (pid: number): Promise<string> =>
  `${pid} ${(await readProcessStatus(pid))?.startTime ?? "unknown"}`

const isIdentityAlive = async (identity: string): Promise<boolean> => {
  const [pid, startTime] = identity.trim().split(" ")
  const status = await readProcessStatus(Number(pid))
  return isLive(status) && status.startTime === startTime
}

interface ShimProcess {
  readonly pid: number
  readonly namespace: string
  readonly containerId: string
  readonly address: string
}

const asShimProcess = (info: ProcessInfo): ShimProcess | undefined => {
  const program = info.commandLine[0]
  if (program === undefined || !nodePath.basename(program).startsWith("containerd-shim")) return undefined
  const flag = (name: string) => {
    const index = info.commandLine.indexOf(name)
    return index < 0 ? undefined : info.commandLine[index + 1]
  }
  const namespace = flag("-namespace")
  const containerId = flag("-id")
  const address = flag("-address")
  return namespace === undefined || containerId === undefined || address === undefined
    ? undefined
    : { pid: info.pid, namespace, containerId, address }
}

// -----------------------------------------------------------------------------
// Host tools
// -----------------------------------------------------------------------------

const isExecutable = async (file: string): Promise<boolean> => {
  try {
    await fs.access(file, fsConstants.X_OK)
    return true
  } catch {
    return false
  }
}

const isOnPath = async (program: string): Promise<boolean> => {
  const directories = (toolEnvironment()["PATH"] ?? "").split(":")
  for (const directory of directories) {
    if (await isExecutable(nodePath.join(directory, program))) return true
  }
  return false
}

const findMissingTools = Effect.promise(async (): Promise<ReadonlyArray<string>> => {
  const missing: Array<string> = []
  for (const tool of requiredTools) {
    if (!(await isOnPath(tool))) missing.push(tool)
  }
  if (!(await isExecutable(hostBusybox))) missing.push(hostBusybox)
  return missing
})

const installCommandLine = `apt-get install -y --no-install-recommends ${aptPackages.join(" ")}`

const hasAptPackageLists = Effect.promise(async () => {
  try {
    return (await fs.readdir("/var/lib/apt/lists")).some((entry) => entry.includes("_Packages"))
  } catch {
    return false
  }
})

const aptGet = (args: ReadonlyArray<string>) =>
  // The lock timeout waits for a concurrent apt/dpkg run (another sandbox installing the same packages).
  runProcess("install", "apt-get", ["-o", "DPkg::Lock::Timeout=300", ...args], {
    DEBIAN_FRONTEND: "noninteractive"
  })

const installPackages = Effect.gen(function*() {
  const freshLists = !(yield* hasAptPackageLists)
  if (freshLists) yield* Effect.flatMap(aptGet(["update"]), failUnlessSuccess("apt-get", ["update"]))
  const installArgs = ["install", "-y", "--no-install-recommends", ...aptPackages]
  const installed = yield* aptGet(installArgs)
  if (installed.exitCode === 0) return
  // Outdated package lists are the usual reason; refresh them once unless we just did.
  if (freshLists) return yield* commandFailed("install", "apt-get", installArgs, installed)
  yield* Effect.flatMap(aptGet(["update"]), failUnlessSuccess("apt-get", ["update"]))
  yield* Effect.flatMap(aptGet(installArgs), failUnlessSuccess("apt-get", installArgs))
})

const failUnlessSuccess = (file: string, args: ReadonlyArray<string>) => (output: ProcessOutput) =>
  output.exitCode === 0 ? Effect.void : Effect.fail(commandFailed("install", file, args, output))

const ensureHostTools = Effect.fnUntraced(function*(settings: SandboxSettings) {
  const isRoot = nodeProcess.getuid?.() === 0
  const missing = yield* findMissingTools
  if (missing.length > 0) {
    if (!isRoot || !settings.installMissingPackages) {
      return yield* new SandboxError({
        operation: "install",
        message: `missing ${missing.join(", ")}; install them as root: ` +
          `DEBIAN_FRONTEND=noninteractive ${installCommandLine}`
      })
    }
    yield* installPackages
    const stillMissing = yield* findMissingTools
    if (stillMissing.length > 0) {
      return yield* new SandboxError({
        operation: "install",
        message: `still missing after ${installCommandLine}: ${stillMissing.join(", ")}`
      })
    }
  }
  if (!isRoot) {
    return yield* new SandboxError({
      operation: "start",
      message: "containerd and runc need root: run the sandbox as root"
    })
  }
})

// -----------------------------------------------------------------------------
// The private directory
// -----------------------------------------------------------------------------

interface SandboxPaths {
  readonly directory: string
  readonly configFile: string
  readonly socketPath: string
  readonly logFile: string
  readonly containerdPidFile: string
  readonly ownerFile: string
  readonly sweepLockFile: string
  readonly rootfs: string
  readonly fifoDirectory: string
  readonly root: string
  readonly state: string
  readonly opt: string
}

const sandboxPaths = (directory: string): SandboxPaths => ({
  directory,
  configFile: nodePath.join(directory, "config.toml"),
  socketPath: nodePath.join(directory, "containerd.sock"),
  logFile: nodePath.join(directory, "containerd.log"),
  containerdPidFile: nodePath.join(directory, "containerd.pid"),
  ownerFile: nodePath.join(directory, "owner.pid"),
  sweepLockFile: nodePath.join(directory, "sweep.lock"),
  rootfs: nodePath.join(directory, "rootfs"),
  fifoDirectory: nodePath.join(directory, "fifo"),
  root: nodePath.join(directory, "root"),
  state: nodePath.join(directory, "state"),
  opt: nodePath.join(directory, "opt")
})

const attempt = <A>(operation: string, what: string, thunk: () => Promise<A>): Effect.Effect<A, SandboxError> =>
  Effect.tryPromise({
    try: thunk,
    catch: (cause) => new SandboxError({ operation, message: `${what}: ${messageOf(cause)}` })
  })

const createSandboxDirectory = (prefix: string): Effect.Effect<SandboxPaths, SandboxError> =>
  Effect.gen(function*() {
    const directory = yield* attempt("start", `cannot create a directory at ${prefix}XXXXXX`, async () => {
      await fs.mkdir(nodePath.dirname(prefix), { recursive: true })
      return fs.mkdtemp(prefix)
    })
    const paths = sandboxPaths(directory)
    return yield* Effect.gen(function*() {
      if (new TextEncoder().encode(`${paths.socketPath}.ttrpc`).length > maxSocketPathBytes) {
        return yield* new SandboxError({
          operation: "start",
          message: `socket path ${paths.socketPath} is too long for a unix socket; use a shorter directoryPrefix`
        })
      }
      // Written first: from now on a sweep by another process can tell whether our owner is alive.
      yield* attempt("start", "cannot write the owner file", async () => {
        await fs.writeFile(paths.ownerFile, await processIdentity(nodeProcess.pid))
        await fs.mkdir(paths.fifoDirectory)
      })
      return paths
    }).pipe(
      // Not yet handed to a finalizer: remove it here.
      Effect.onError(() => Effect.promise(() => fs.rm(directory, { recursive: true, force: true })))
    )
  }).pipe(Effect.uninterruptible)

const tomlString = (value: string): string => JSON.stringify(value)

const writeContainerdConfig = (paths: SandboxPaths): Effect.Effect<void, SandboxError> =>
  attempt(
    "start",
    "cannot write config.toml",
    () =>
      fs.writeFile(
        paths.configFile,
        [
          "version = 2",
          `root = ${tomlString(paths.root)}`,
          `state = ${tomlString(paths.state)}`,
          // CRI needs CNI and images; the watcher only needs the containers / tasks / events API.
          `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
          "",
          "[grpc]",
          `  address = ${tomlString(paths.socketPath)}`,
          "",
          `[plugins."io.containerd.internal.v1.opt"]`,
          `  path = ${tomlString(paths.opt)}`,
          ""
        ].join("\n")
      )
  )

const buildBusyboxRootfs = (rootfs: string): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const applets = outputLines(yield* runChecked("start", hostBusybox, ["--list"]))
    yield* attempt("start", `cannot build the busybox rootfs in ${rootfs}`, async () => {
      for (const directory of ["bin", "dev", "proc", "sys", "tmp", "etc"]) {
        await fs.mkdir(nodePath.join(rootfs, directory), { recursive: true })
      }
      const busybox = nodePath.join(rootfs, "bin", "busybox")
      await fs.copyFile(hostBusybox, busybox)
      await fs.chmod(busybox, 0o755)
      await Promise.all(
        applets
          .filter((applet) => applet !== "busybox" && !applet.includes("/"))
          .map((applet) => fs.symlink("busybox", nodePath.join(rootfs, "bin", applet)))
      )
      // mkdir applies the umask; /tmp must be world-writable and sticky.
      await fs.chmod(nodePath.join(rootfs, "tmp"), 0o1777)
      await fs.writeFile(nodePath.join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
      await fs.writeFile(nodePath.join(rootfs, "etc", "group"), "root:x:0:\n")
    })
  })

const readTextFile = (file: string): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    try {
      return await fs.readFile(file, "utf8")
    } catch {
      return undefined
    }
  })

const pathExists = (file: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      await fs.lstat(file)
      return true
    } catch {
      return false
    }
  })

const logTail = (paths: SandboxPaths): Effect.Effect<string> =>
  Effect.map(readTextFile(paths.logFile), (log) => (log ?? "").split("\n").slice(-30).join("\n").slice(-4000))

// -----------------------------------------------------------------------------
// containerd itself
// -----------------------------------------------------------------------------

/** The pid of the containerd running on this directory's config, if one runs. */
const findRunningContainerd = (paths: SandboxPaths): Effect.Effect<number | undefined> =>
  Effect.promise(async () => {
    let pid: number
    try {
      pid = Number((await fs.readFile(paths.containerdPidFile, "utf8")).trim())
    } catch {
      return undefined
    }
    // The pid may have been reused since: it is ours only if it runs our config.
    if (!Number.isInteger(pid) || pid <= 0 || !(await isProcessRunning(pid))) return undefined
    return (await readCommandLine(pid)).includes(paths.configFile) ? pid : undefined
  })

/** Spawns containerd in its own session, so it outlives neither more nor less than we decide. */
const launchContainerd = (paths: SandboxPaths): Effect.Effect<number, SandboxError> =>
  attempt("start", "cannot start containerd", async () => {
    const log = await fs.open(paths.logFile, "a")
    try {
      const child = spawn("containerd", ["--config", paths.configFile], {
        detached: true,
        stdio: ["ignore", log.fd, log.fd],
        env: toolEnvironment()
      })
      const pid = child.pid
      if (pid === undefined) {
        throw await new Promise<Error>((resolve) => child.once("error", resolve))
      }
      child.unref()
      await fs.writeFile(paths.containerdPidFile, String(pid))
      return pid
    } finally {
      await log.close()
    }
  })

const isSocket = (file: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      return (await fs.stat(file)).isSocket()
    } catch {
      return false
    }
  })

const answersVersion = (paths: SandboxPaths): Effect.Effect<boolean, SandboxError> =>
  Effect.gen(function*() {
    // Without the socket file, ctr would spend its whole connect timeout dialing.
    if (!(yield* isSocket(paths.socketPath))) return false
    const output = yield* runProcess("start", "ctr", ["--address", paths.socketPath, "--connect-timeout", "1s", "version"])
    return output.exitCode === 0
  })

const waitUntilReady = (paths: SandboxPaths, pid: number, timeoutMillis: number): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const exited = { value: false }
    const ready = yield* waitUntil(
      Effect.gen(function*() {
        if (!(yield* Effect.promise(() => isProcessRunning(pid)))) {
          exited.value = true
          return true
        }
        return yield* answersVersion(paths)
      }),
      timeoutMillis
    )
    if (ready && !exited.value) return
    const reason = exited.value ? "containerd exited during startup" : `containerd did not answer within ${timeoutMillis} ms`
    return yield* new SandboxError({
      operation: "start",
      message: `${reason}; end of ${paths.logFile}:\n${yield* logTail(paths)}`,
      command: describeCommand("containerd", ["--config", paths.configFile])
    })
  })

/** Starts containerd and waits until it answers; if it does not, it is killed again. */
const startContainerd = (paths: SandboxPaths, readyTimeoutMillis: number): Effect.Effect<number, SandboxError> =>
  Effect.gen(function*() {
    const pid = yield* Effect.uninterruptible(launchContainerd(paths))
    yield* waitUntilReady(paths, pid, readyTimeoutMillis).pipe(
      Effect.onError(() =>
        Effect.gen(function*() {
          signalProcess(pid, "SIGKILL")
          yield* waitForExit([pid], processExitTimeoutMillis)
        })
      )
    )
    return pid
  })

const stopContainerd = (paths: SandboxPaths, pid: number, graceMillis: number): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    signalProcess(pid, "SIGTERM")
    if (yield* waitForExit([pid], graceMillis)) return
    signalProcess(pid, "SIGKILL")
    if (yield* waitForExit([pid], processExitTimeoutMillis)) return
    return yield* new SandboxError({
      operation: "stop",
      message: `containerd (pid ${pid}) survived SIGTERM and SIGKILL; end of ${paths.logFile}:\n${yield* logTail(paths)}`
    })
  })

// -----------------------------------------------------------------------------
// Teardown
// -----------------------------------------------------------------------------

/**
 * The graceful part of the teardown, through containerd's API: kill and delete every task, delete
 * every container, stop containerd. A stopped or crashed containerd is started again first, so it
 * re-attaches to the shims of the still running containers.
 */
const drainAndStopContainerd = (
  paths: SandboxPaths,
  tracking: SandboxTracking,
  settings: SandboxSettings
): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    let pid = yield* findRunningContainerd(paths)
    if (pid === undefined) {
      // Swept by another sandbox, or never got this far: nothing to re-attach to.
      if (!(yield* pathExists(paths.configFile))) return
      pid = yield* startContainerd(paths, settings.readyTimeoutMillis)
    }
    const listed = yield* listNamespaces(paths.socketPath).pipe(
      Effect.catch(() => Effect.succeed<ReadonlyArray<string>>([]))
    )
    for (const namespace of listed) remember(tracking, namespace)
    yield* Effect.forEach(
      [...tracking.containersByNamespace.keys()],
      (namespace) =>
        drainNamespace(paths, tracking, namespace).pipe(
          Effect.ignoreCause({ log: "Warn", message: `ContainerdSandbox: emptying namespace ${namespace} failed` })
        ),
      { concurrency: 4, discard: true }
    )
    yield* stopContainerd(paths, pid, settings.stopTimeoutMillis)
  })

const drainNamespace = (
  paths: SandboxPaths,
  tracking: SandboxTracking,
  namespace: string
): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const ctrHere = (args: ReadonlyArray<string>) => runCtr("teardown", paths.socketPath, namespace, args)
    const bestEffort = { concurrency: 8, discard: true } as const
    const tasks = yield* listTasks(paths.socketPath, namespace)
    // SIGKILL also ends paused tasks, and takes their exec'd processes along.
    yield* Effect.forEach(
      tasks.filter((task) => task.status !== "STOPPED"),
      (task) => Effect.ignore(ctrHere(["tasks", "kill", "--signal", "SIGKILL", task.id])),
      bestEffort
    )
    yield* waitUntil(
      Effect.map(listTasks(paths.socketPath, namespace), (all) => all.every((task) => task.status === "STOPPED")),
      taskStopTimeoutMillis
    )
    yield* Effect.forEach(
      tasks,
      (task) =>
        ctrHere(["tasks", "delete", task.id]).pipe(
          Effect.catch(() => ctrHere(["tasks", "delete", "--force", task.id])),
          Effect.ignore
        ),
      bestEffort
    )
    const containers = yield* listContainers(paths.socketPath, namespace)
    for (const id of containers) remember(tracking, namespace, id)
    yield* Effect.forEach(containers, (id) => Effect.ignore(ctrHere(["containers", "delete", id])), bestEffort)
  })

/**
 * The forceful part of the teardown, which needs no containerd: kill whatever still runs for our
 * socket, unmount whatever is mounted below the directory, remove the namespace traces outside of it
 * and finally the directory itself.
 */
const removeSandboxLeftovers = (paths: SandboxPaths, tracking: SandboxTracking): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const daemon = yield* findRunningContainerd(paths)
    if (daemon !== undefined) {
      signalProcess(daemon, "SIGKILL")
      yield* waitForExit([daemon], processExitTimeoutMillis)
    }
    const killedShims = yield* killShimsOf(paths.socketPath)
    for (const shim of killedShims) remember(tracking, shim.namespace, shim.containerId)
    yield* unmountEverythingBelow(paths.directory)
    yield* removeNamespaceTraces(paths.socketPath, tracking, killedShims)
    yield* attempt("teardown", `cannot remove ${paths.directory}`, () =>
      fs.rm(paths.directory, { recursive: true, force: true, maxRetries: 3 }))
  })

/**
 * Kills the shims still serving our socket, and the container processes they supervise, by pid.
 * Normally there are none: it matters when containerd could not be brought back for the graceful part.
 */
const killShimsOf = (socketPath: string): Effect.Effect<ReadonlyArray<ShimProcess>> =>
  Effect.gen(function*() {
    const processes = yield* Effect.promise(scanProcesses)
    const allShims = processes.flatMap((info) => {
      const shim = asShimProcess(info)
      return shim === undefined ? [] : [shim]
    })
    const ours = allShims.filter((shim) => shim.address === socketPath)
    if (ours.length === 0) return ours
    const shimPids = new Set(ours.map((shim) => shim.pid))
    const containerProcesses = processes.filter((info) => shimPids.has(info.parentPid)).map((info) => info.pid)
    const victims = [...containerProcesses, ...shimPids]
    for (const pid of victims) signalProcess(pid, "SIGKILL")
    // A paused container is frozen, and a frozen process only acts on its SIGKILL once thawed. The
    // cgroup is named after namespace and id only: leave it alone if another containerd uses the name.
    for (const shim of ours) {
      const clash = allShims.some((other) =>
        other.address !== socketPath && other.namespace === shim.namespace && other.containerId === shim.containerId
      )
      if (!clash) yield* thawContainer(shim.namespace, shim.containerId)
    }
    yield* waitForExit(victims, processExitTimeoutMillis)
    return ours
  })

/** Thaws a container's cgroup: `freezer.state` in cgroup v1, `cgroup.freeze` in cgroup v2. */
const thawContainer = (namespace: string, containerId: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (!containerdIdentifier.test(namespace) || !containerdIdentifier.test(containerId)) return
    for (const hierarchy of yield* cgroupHierarchies) {
      const cgroup = nodePath.join(hierarchy, namespace, containerId)
      yield* Effect.promise(() =>
        Promise.all([
          fs.writeFile(nodePath.join(cgroup, "freezer.state"), "THAWED").catch(() => undefined),
          fs.writeFile(nodePath.join(cgroup, "cgroup.freeze"), "0").catch(() => undefined)
        ])
      )
    }
  })

const mountPointsBelow = (directory: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(readTextFile("/proc/self/mounts"), (mounts) =>
    outputLines(mounts ?? "")
      .map((line) => decodeMountPath(line.split(" ")[1] ?? ""))
      .filter((mountPoint) => mountPoint === directory || mountPoint.startsWith(`${directory}/`))
      // Deepest first, so that no unmount is blocked by a mount below it.
      .sort((a, b) => b.split("/").length - a.split("/").length))

/** /proc/self/mounts writes space, tab, newline and backslash in paths as octal escapes. */
const decodeMountPath = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))

const unmountEverythingBelow = (directory: string): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    for (const mountPoint of yield* mountPointsBelow(directory)) {
      yield* Effect.ignore(runChecked("teardown", "umount", ["-l", mountPoint]))
    }
    const remaining = yield* mountPointsBelow(directory)
    // Removing the directory recursively would descend into these and delete what they show.
    if (remaining.length > 0) {
      return yield* new SandboxError({
        operation: "teardown",
        message: `still mounted, not removing ${directory}: ${remaining.join(", ")}`
      })
    }
  })

const removeDirectoryIfEmpty = (directory: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    // rmdir refuses non-empty directories and cgroups that still have processes or children, which
    // is exactly the protection we want for anything shared. A cgroup whose last process just died
    // can report EBUSY for a moment.
    for (let attemptNumber = 0; attemptNumber < 20; attemptNumber++) {
      const outcome = yield* Effect.promise(async () => {
        try {
          await fs.rmdir(directory)
          return "done"
        } catch (cause) {
          return (cause as { readonly code?: unknown }).code === "EBUSY" ? "busy" : "done"
        }
      })
      if (outcome === "done") return
      yield* sleepMillis(pollIntervalMillis)
    }
  })

const cgroupHierarchies = Effect.promise(async (): Promise<ReadonlyArray<string>> => {
  try {
    const entries = await fs.readdir(cgroupRoot, { withFileTypes: true })
    // cgroup v1 mounts one hierarchy per controller below the root; cgroup v2 is the root itself.
    return [cgroupRoot, ...entries.filter((entry) => entry.isDirectory()).map((entry) => nodePath.join(cgroupRoot, entry.name))]
  } catch {
    return []
  }
})

/** The name containerd 1.6 gives a shim's socket in /run/containerd/s. */
const shimSocketPath = (socketPath: string, namespace: string, containerId: string): string =>
  nodePath.join(
    shimSocketDirectory,
    createHash("sha256").update(nodePath.join(socketPath, namespace, containerId)).digest("hex")
  )

/**
 * runc and containerd keep per-namespace state outside our directory: cgroups named
 * `<hierarchy>/<namespace>/<container>` and runc state in `/run/containerd/runc/<namespace>`. Other
 * containerds may use the same namespace names, so a namespace is left alone while a shim of another
 * containerd serves it, and only empty directories are removed.
 */
const removeNamespaceTraces = (
  socketPath: string,
  tracking: SandboxTracking,
  killedShims: ReadonlyArray<ShimProcess>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const otherShims = (yield* Effect.promise(scanProcesses)).flatMap((info) => {
      const shim = asShimProcess(info)
      return shim === undefined ? [] : [shim]
    })
    const hierarchies = yield* cgroupHierarchies
    for (const [namespace, containerIds] of tracking.containersByNamespace) {
      if (!containerdIdentifier.test(namespace)) continue
      const ids = [...containerIds].filter((id) => containerdIdentifier.test(id))
      // Our shims were killed, so containerd never cleaned up after them: their runc state and shim
      // socket are ours to remove, unless another containerd runs a container of the same name.
      for (const shim of killedShims) {
        if (shim.namespace !== namespace || !containerdIdentifier.test(shim.containerId)) continue
        const clash = otherShims.some((other) => other.namespace === namespace && other.containerId === shim.containerId)
        if (!clash) {
          yield* Effect.promise(() =>
            fs.rm(nodePath.join(runcStateRoot, namespace, shim.containerId), { recursive: true, force: true })
          )
        }
        yield* Effect.promise(() => fs.rm(shimSocketPath(socketPath, namespace, shim.containerId), { force: true }))
      }
      if (otherShims.some((other) => other.namespace === namespace)) continue
      for (const hierarchy of hierarchies) {
        for (const id of ids) yield* removeDirectoryIfEmpty(nodePath.join(hierarchy, namespace, id))
        yield* removeDirectoryIfEmpty(nodePath.join(hierarchy, namespace))
      }
      yield* removeDirectoryIfEmpty(nodePath.join(runcStateRoot, namespace))
    }
  })

// -----------------------------------------------------------------------------
// Sandboxes left by crashed runs
// -----------------------------------------------------------------------------

/**
 * A sibling directory is stale when the process that created it is gone (its containerd, started in
 * its own session, may well still run). Sandboxes of live processes, this one included, are kept, and
 * so are directories without an owner file: they are not ours to judge.
 */
const isStaleSandbox = (paths: SandboxPaths): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      if (!(await fs.lstat(paths.directory)).isDirectory()) return false
      return !(await isIdentityAlive(await fs.readFile(paths.ownerFile, "utf8")))
    } catch {
      return false
    }
  })

/** Claims a stale directory for cleanup, so that two new sandboxes do not clean it up together. */
const claimForSweep = (paths: SandboxPaths): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    const identity = await processIdentity(nodeProcess.pid)
    try {
      await fs.writeFile(paths.sweepLockFile, identity, { flag: "wx" })
      return true
    } catch {
      // Claimed already: take over only from a sweeper that died on the job.
      const holder = await fs.readFile(paths.sweepLockFile, "utf8").catch(() => undefined)
      if (holder === undefined || (await isIdentityAlive(holder))) return false
      await fs.writeFile(paths.sweepLockFile, identity)
      return true
    }
  })

const sweepStaleSandboxes = (settings: SandboxSettings): Effect.Effect<void> =>
  Effect.gen(function*() {
    const parent = nodePath.dirname(settings.directoryPrefix)
    const namePrefix = nodePath.basename(settings.directoryPrefix)
    const entries = yield* Effect.promise(() => fs.readdir(parent).catch(() => [] as Array<string>))
    for (const entry of entries) {
      if (!entry.startsWith(namePrefix)) continue
      const paths = sandboxPaths(nodePath.join(parent, entry))
      if (!(yield* isStaleSandbox(paths)) || !(yield* claimForSweep(paths))) continue
      const tracking: SandboxTracking = { containersByNamespace: new Map() }
      yield* drainAndStopContainerd(paths, tracking, settings).pipe(
        Effect.ignoreCause({ log: "Warn", message: `ContainerdSandbox: stale ${paths.directory}: graceful cleanup failed` })
      )
      yield* removeSandboxLeftovers(paths, tracking).pipe(
        Effect.ignoreCause({ log: "Warn", message: `ContainerdSandbox: stale ${paths.directory}: removal failed` })
      )
    }
  })
