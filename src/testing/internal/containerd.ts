/**
 * A private containerd on a sandbox directory: its config, `ctr`, start and stop, and the teardown
 * that leaves no task, shim, cgroup or runc state behind. Shared by the containerd and the Docker
 * sandbox (Docker runs on a private containerd).
 * @internal
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Array as Arr, Effect } from "effect"
import { byId } from "../../internal/ordering.ts"
import type { SandboxTask, TaskStatus } from "../ContainerdSandbox.ts"
import { type DaemonSpec, findRunningDaemon, processExitTimeoutMillis, startDaemon, stopDaemon } from "./daemon.ts"
import { attempt, isSocket, outputLines, pathExists } from "./directory.ts"
import { runChecked, runProcess, signalProcess } from "./process.ts"
import { type ProcessInfo, scanProcesses } from "../../internal/procfs.ts"
import { waitForExit } from "./procfs.ts"
import { SandboxError } from "./SandboxError.ts"
import { cgroupHierarchies, removeDirectoryIfEmpty, unmountEverythingBelow } from "./teardown.ts"
import { waitUntil } from "./waiting.ts"

// Where the runc shim of containerd 1.6 keeps state outside our directory, whatever the config says.
const runcStateRoot = "/run/containerd/runc"
const shimSocketDirectory = "/run/containerd/s"
// containerd's own rule for namespace names and container ids; checked before they become paths.
export const containerdIdentifier = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/
export const taskStopTimeoutMillis = 10_000
const ctrConnectTimeout = "5s"

/** Namespaces and container ids a sandbox has touched: teardown removes their host-side traces. */
export interface SandboxTracking {
  readonly containersByNamespace: Map<string, Set<string>>
}

export const remember = (tracking: SandboxTracking, namespace: string, containerId?: string): void => {
  let containers = tracking.containersByNamespace.get(namespace)
  if (containers === undefined) {
    containers = new Set()
    tracking.containersByNamespace.set(namespace, containers)
  }
  if (containerId !== undefined) containers.add(containerId)
}

export const ctrArguments = (
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

export const runCtr = (
  operation: string,
  socketPath: string,
  namespace: string | undefined,
  args: ReadonlyArray<string>
): Effect.Effect<string, SandboxError> => runChecked(operation, "ctr", ctrArguments(socketPath, namespace, args))

export const taskStatuses: ReadonlyArray<TaskStatus> = ["CREATED", "RUNNING", "PAUSED", "PAUSING", "STOPPED", "UNKNOWN"]

export const parseTaskStatus = (text: string): TaskStatus => taskStatuses.find((status) => status === text) ?? "UNKNOWN"

/** Parses `ctr tasks ls`: a header line, then `ID PID STATUS` per task. */
export const parseTaskList = (output: string): ReadonlyArray<SandboxTask> =>
  outputLines(output).slice(1).flatMap((line) => {
    const [id, pid, status] = line.split(/\s+/)
    return id === undefined || pid === undefined || status === undefined
      ? []
      : [{ id, pid: Number(pid), status: parseTaskStatus(status) }]
  })

// ctr lists in no particular order (it changes when containerd restarts): sort, so results compare.
export const sortedLines = (output: string): ReadonlyArray<string> => [...outputLines(output)].sort()

export const listTasks = (socketPath: string, namespace: string): Effect.Effect<ReadonlyArray<SandboxTask>, SandboxError> =>
  Effect.map(runCtr("tasks", socketPath, namespace, ["tasks", "ls"]), (output) => Arr.sort(parseTaskList(output), byId))

export const listContainers = (socketPath: string, namespace: string): Effect.Effect<ReadonlyArray<string>, SandboxError> =>
  Effect.map(runCtr("containers", socketPath, namespace, ["containers", "ls", "--quiet"]), sortedLines)

export const listNamespaces = (socketPath: string): Effect.Effect<ReadonlyArray<string>, SandboxError> =>
  Effect.map(runCtr("namespaces", socketPath, undefined, ["namespaces", "ls", "--quiet"]), sortedLines)

export interface ShimProcess {
  readonly pid: number
  readonly namespace: string
  readonly containerId: string
  readonly address: string
}

export const asShimProcess = (info: ProcessInfo): ShimProcess | undefined => {
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

/** Where a private containerd keeps everything, inside the sandbox directory. */
export interface SandboxPaths {
  readonly directory: string
  readonly configFile: string
  readonly socketPath: string
  readonly logFile: string
  readonly containerdPidFile: string
  readonly rootfs: string
  readonly fifoDirectory: string
  readonly root: string
  readonly state: string
  readonly opt: string
}

export const sandboxPaths = (directory: string): SandboxPaths => ({
  directory,
  configFile: nodePath.join(directory, "config.toml"),
  socketPath: nodePath.join(directory, "containerd.sock"),
  logFile: nodePath.join(directory, "containerd.log"),
  containerdPidFile: nodePath.join(directory, "containerd.pid"),
  rootfs: nodePath.join(directory, "rootfs"),
  fifoDirectory: nodePath.join(directory, "fifo"),
  root: nodePath.join(directory, "root"),
  state: nodePath.join(directory, "state"),
  opt: nodePath.join(directory, "opt")
})

export const tomlString = (value: string): string => JSON.stringify(value)

export const writeContainerdConfig = (paths: SandboxPaths): Effect.Effect<void, SandboxError> =>
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

const answersVersion = (paths: SandboxPaths): Effect.Effect<boolean, SandboxError> =>
  Effect.gen(function*() {
    // Without the socket file, ctr would spend its whole connect timeout dialing.
    if (!(yield* isSocket(paths.socketPath))) return false
    const output = yield* runProcess("start", "ctr", ["--address", paths.socketPath, "--connect-timeout", "1s", "version"])
    return output.exitCode === 0
  })

/** The private containerd of a sandbox directory, as a daemon. */
export const containerdDaemon = (paths: SandboxPaths): DaemonSpec => ({
  name: "containerd",
  command: "containerd",
  args: ["--config", paths.configFile],
  pidFile: paths.containerdPidFile,
  logFile: paths.logFile,
  marker: paths.configFile,
  answers: answersVersion(paths)
})

/** The pid of the containerd running on this directory's config, if one runs. */
export const findRunningContainerd = (paths: SandboxPaths): Effect.Effect<number | undefined> =>
  findRunningDaemon(containerdDaemon(paths))

/** Starts containerd and waits until it answers; if it does not, it is killed again. */
export const startContainerd = (paths: SandboxPaths, readyTimeoutMillis: number): Effect.Effect<number, SandboxError> =>
  startDaemon(containerdDaemon(paths), readyTimeoutMillis)

export const stopContainerd = (paths: SandboxPaths, pid: number, graceMillis: number): Effect.Effect<void, SandboxError> =>
  stopDaemon(containerdDaemon(paths), pid, graceMillis)

// -----------------------------------------------------------------------------
// Teardown
// -----------------------------------------------------------------------------

/**
 * The graceful part of the teardown, through containerd's API: kill and delete every task, delete
 * every container, stop containerd. A stopped or crashed containerd is started again first, so it
 * re-attaches to the shims of the still running containers.
 */
export const drainAndStopContainerd = (
  paths: SandboxPaths,
  tracking: SandboxTracking,
  settings: { readonly readyTimeoutMillis: number; readonly stopTimeoutMillis: number }
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

export const drainNamespace = (
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
export const removeSandboxLeftovers = (paths: SandboxPaths, tracking: SandboxTracking): Effect.Effect<void, SandboxError> =>
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
export const killShimsOf = (socketPath: string): Effect.Effect<ReadonlyArray<ShimProcess>> =>
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
export const thawContainer = (namespace: string, containerId: string): Effect.Effect<void> =>
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

/** The name containerd 1.6 gives a shim's socket in /run/containerd/s. */
export const shimSocketPath = (socketPath: string, namespace: string, containerId: string): string =>
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
export const removeNamespaceTraces = (
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

/** Cleans up a stale sandbox directory with a private containerd in it: gracefully, then by force. */
export const cleanUpStaleDirectory = (
  paths: SandboxPaths,
  settings: { readonly readyTimeoutMillis: number; readonly stopTimeoutMillis: number },
  who: string
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const tracking: SandboxTracking = { containersByNamespace: new Map() }
    yield* drainAndStopContainerd(paths, tracking, settings).pipe(
      Effect.ignoreCause({ log: "Warn", message: `${who}: stale ${paths.directory}: graceful cleanup failed` })
    )
    yield* removeSandboxLeftovers(paths, tracking).pipe(
      Effect.ignoreCause({ log: "Warn", message: `${who}: stale ${paths.directory}: removal failed` })
    )
  })
