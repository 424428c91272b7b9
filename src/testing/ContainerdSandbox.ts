/**
 * A real, private containerd for integration tests, as an Effect scoped layer.
 *
 * Acquiring the layer checks that containerd, runc and busybox-static are installed (it installs
 * them with apt-get only when `installMissingPackages` is set), creates a short private directory (`/tmp/wws-XXXXXX`), starts `containerd` on a socket inside it and
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
import * as fs from "node:fs/promises"
import { Context, Duration, Effect, Layer, type Scope, Semaphore } from "effect"
import {
  cleanUpStaleDirectory,
  ctrArguments,
  drainAndStopContainerd,
  findRunningContainerd,
  listContainers,
  listNamespaces,
  listTasks,
  remember,
  removeSandboxLeftovers,
  runCtr,
  type SandboxPaths,
  sandboxPaths,
  type SandboxTracking,
  startContainerd,
  stopContainerd,
  taskStopTimeoutMillis,
  writeContainerdConfig
} from "./internal/containerd.ts"
import { processExitTimeoutMillis } from "./internal/daemon.ts"
import { attempt, buildBusyboxRootfs, createSandboxDirectory, hostBusybox } from "./internal/directory.ts"
import { ensureHostTools, type HostRequirements } from "./internal/hostTools.ts"
import { commandFailed, runProcess, signalProcess } from "./internal/process.ts"
import { waitForExit } from "./internal/procfs.ts"
import { SandboxError } from "./internal/SandboxError.ts"
import { sweepStaleSandboxes } from "./internal/sweep.ts"
import { waitUntil } from "./internal/waiting.ts"

// -----------------------------------------------------------------------------
// Public types
// -----------------------------------------------------------------------------

export { SandboxError }

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
  /**
   * Install missing Debian packages (containerd, runc, busybox-static) with apt-get when running as
   * root. Default `false`: a missing tool is a `SandboxError` that names the command to run.
   */
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

/** What a private containerd needs on the host. */
const containerdRequirements: HostRequirements = {
  purpose: "containerd and runc",
  programs: ["containerd", "containerd-shim-runc-v2", "runc", "ctr"],
  files: [hostBusybox],
  packages: ["containerd", "runc", "busybox-static"]
}

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
    yield* ensureHostTools(containerdRequirements, settings.installMissingPackages)
    if (settings.sweepStaleSandboxes) {
      yield* sweepStaleSandboxes(settings.directoryPrefix, (directory) => cleanUpStaleDirectory(sandboxPaths(directory), settings, "ContainerdSandbox")).pipe(
        Effect.ignoreCause({ log: "Warn", message: "ContainerdSandbox: sweeping stale sandboxes failed" })
      )
    }

    const tracking: SandboxTracking = { containersByNamespace: new Map() }
    // Released last: whatever the graceful shutdown left, the directory finalizer removes by force.
    const paths = yield* Effect.acquireRelease(
      Effect.map(createSandboxDirectory(settings.directoryPrefix, "containerd.sock.ttrpc"), sandboxPaths),
      (paths) =>
        removeSandboxLeftovers(paths, tracking).pipe(
          Effect.ignoreCause({ log: "Warn", message: `ContainerdSandbox: removing ${paths.directory} failed` })
        )
    )
    yield* attempt("start", "cannot create the fifo directory", () => fs.mkdir(paths.fifoDirectory))
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
  installMissingPackages: options.installMissingPackages ?? false,
  sweepStaleSandboxes: options.sweepStaleSandboxes ?? true
})

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

