/**
 * A real, private dockerd for integration tests, as an Effect scoped layer — and the operations
 * the Podman sandbox shares with it.
 *
 * Acquiring the layer creates a short private directory (`/tmp/wwd-XXXXXX`), starts a private
 * containerd in it (the same one `ContainerdSandbox` runs) and a dockerd on it with its own config,
 * data root, exec root, pid file and socket, with no networking at all (no bridge, no iptables) and
 * a private cgroup parent; then it imports an image made from a busybox root filesystem with
 * `docker import`, so nothing is ever pulled. Containers run with no network and never pull.
 * Releasing it force-removes every container, stops dockerd and containerd and removes every
 * trace: processes, mounts, cgroups and the directory. Sandboxes of crashed runs are swept.
 *
 * Needs Linux, root and Debian's `docker.io`, `containerd`, `runc` and `busybox-static` (installed
 * with apt-get only when `installMissingPackages` is set).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Context, Duration, Effect, Layer, type Scope, Semaphore } from "effect"
import {
  cleanUpStaleDirectory,
  drainAndStopContainerd,
  removeSandboxLeftovers,
  type SandboxPaths,
  sandboxPaths,
  type SandboxTracking,
  startContainerd,
  writeContainerdConfig
} from "./internal/containerd.ts"
import { type DaemonSpec, findRunningDaemon, killDaemon, startDaemon, stopDaemon } from "./internal/daemon.ts"
import { attempt, createSandboxDirectory, hostBusybox } from "./internal/directory.ts"
import {
  answersPing,
  existsNow,
  importBusyboxImage,
  killProcessesMentioning,
  removeAllContainers,
  removeCgroupParent
} from "./internal/dockerCli.ts"
import { makeOperations } from "./internal/engineSandbox.ts"
import { ensureHostTools, type HostRequirements } from "./internal/hostTools.ts"
import { SandboxError } from "./internal/SandboxError.ts"
import { sweepStaleSandboxes } from "./internal/sweep.ts"
import { removeDirectoryIfEmpty } from "./internal/teardown.ts"

export { SandboxError }

/**
 * What to run with {@link EngineSandboxOperations.run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DockerSandboxRunOptions {
  /** The container's name (at least two characters); default: one the daemon picks. */
  readonly name?: string
  /** Container labels, e.g. `{ "com.docker.compose.project": "shop" }`. */
  readonly labels?: Readonly<Record<string, string>>
  /** The command inside the busybox image. Default `["/bin/sleep", "100000"]`. */
  readonly command?: ReadonlyArray<string>
}

/**
 * A compose project for {@link EngineSandboxOperations.composeUp}: services on the sandbox image,
 * with no network.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComposeProject {
  /** The project name (`docker-compose --project-name`). */
  readonly name: string
  /** The services by name, each with its own labels and command (default: the image's sleep). */
  readonly services: Readonly<
    Record<string, { readonly labels?: Readonly<Record<string, string>>; readonly command?: ReadonlyArray<string> }>
  >
}

/**
 * Container operations of the Docker and the Podman sandbox; each runs the `docker` command line
 * against the sandbox's socket, so they may be called concurrently.
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineSandboxOperations {
  /** The local image every container runs. */
  readonly image: string
  /** Starts a detached container (no network, never pulling); returns its full ID and host PID. */
  readonly run: (options: DockerSandboxRunOptions) => Effect.Effect<{ readonly id: string; readonly pid: number }, SandboxError>
  /** Pauses a running container. */
  readonly pause: (nameOrId: string) => Effect.Effect<void, SandboxError>
  /** Unpauses a paused container. */
  readonly unpause: (nameOrId: string) => Effect.Effect<void, SandboxError>
  /** Runs a process in a running container and returns its exit code (a non-zero code is a result). */
  readonly exec: (nameOrId: string, command: ReadonlyArray<string>) => Effect.Effect<number, SandboxError>
  /** Sends SIGKILL and waits until the container no longer runs (it stays, exited). */
  readonly kill: (nameOrId: string) => Effect.Effect<void, SandboxError>
  /** Renames a container. */
  readonly rename: (nameOrId: string, newName: string) => Effect.Effect<void, SandboxError>
  /** Force-removes a container. */
  readonly remove: (nameOrId: string) => Effect.Effect<void, SandboxError>
  /** What `docker inspect` says about a container (its first element). */
  readonly inspect: (nameOrId: string) => Effect.Effect<unknown, SandboxError>
  /** Runs `docker` with the given arguments against the sandbox's socket; returns stdout. */
  readonly docker: (args: ReadonlyArray<string>) => Effect.Effect<string, SandboxError>
  /**
   * Brings a compose project up with Debian's `docker-compose` against the sandbox's socket
   * (offline: the image is local, no network); returns the IDs of its containers.
   */
  readonly composeUp: (project: ComposeProject) => Effect.Effect<ReadonlyArray<string>, SandboxError>
  /** `docker-compose down` of a project brought up with {@link composeUp}. */
  readonly composeDown: (name: string) => Effect.Effect<void, SandboxError>
}

/**
 * Settings of a Docker sandbox. All optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface DockerSandboxOptions {
  /** `mkdtemp` prefix of the private directory. Default `"/tmp/wwd-"`; keep it short (socket paths). */
  readonly directoryPrefix?: string
  /** Start dockerd with live-restore (containers survive daemon stops). Default `false`. */
  readonly liveRestore?: boolean
  /** How long a daemon may take to answer after a (re)start. Default 30 seconds. */
  readonly readyTimeout?: Duration.Input
  /** How long a daemon may take to exit after SIGTERM before it gets SIGKILL. Default 15 seconds. */
  readonly stopTimeout?: Duration.Input
  /** Install missing Debian packages with apt-get when running as root. Default `false`. */
  readonly installMissingPackages?: boolean
  /** Clean up sandboxes left by crashed runs before starting. Default `true`. */
  readonly sweepStaleSandboxes?: boolean
}

/**
 * The running Docker sandbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface DockerSandboxShape extends EngineSandboxOperations {
  /** dockerd's API socket. */
  readonly socketPath: string
  /** The private containerd's socket (Docker's containers are in its namespace `moby`). */
  readonly containerdSocketPath: string
  /** The private directory. */
  readonly directory: string
  /** Stops dockerd with SIGTERM and waits (containers stay up only with live-restore). */
  readonly stop: Effect.Effect<void, SandboxError>
  /** Starts dockerd again; `liveRestore` changes the setting for this and later starts. */
  readonly start: (options?: { readonly liveRestore?: boolean }) => Effect.Effect<void, SandboxError>
  /** Kills dockerd with SIGKILL, as a crash would. */
  readonly kill9: Effect.Effect<void, SandboxError>
}

const DockerSandboxBase: Context.ServiceClass<
  DockerSandbox,
  "effect-whalewatcher/testing/DockerSandbox",
  DockerSandboxShape
> = Context.Service<DockerSandbox, DockerSandboxShape>()("effect-whalewatcher/testing/DockerSandbox")

/**
 * A private dockerd on a private containerd, for integration tests. Needs Linux and root.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { DockerSandbox } from "effect-whalewatcher/testing"
 *
 * const program = Effect.gen(function*() {
 *   const sandbox = yield* DockerSandbox.DockerSandbox
 *   const { id, pid } = yield* sandbox.run({ name: "web", labels: { "com.docker.compose.project": "shop" } })
 *   return { id, pid, socket: sandbox.socketPath }
 * }).pipe(Effect.provide(DockerSandbox.layer()))
 * ```
 * @since 0.1.0
 * @category services
 */
export class DockerSandbox extends DockerSandboxBase {}

const dockerRequirements: HostRequirements = {
  purpose: "dockerd, containerd and runc",
  programs: ["dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc", "ctr", "tar"],
  files: [hostBusybox],
  packages: ["docker.io", "containerd", "runc", "busybox-static"]
}

interface DockerPaths {
  readonly containerd: SandboxPaths
  readonly configFile: string
  readonly socketPath: string
  readonly cgroupParent: string
  readonly daemon: DaemonSpec
  readonly ownPidFile: string
}

const dockerPaths = (directory: string): DockerPaths => {
  const configFile = nodePath.join(directory, "daemon.json")
  const socketPath = nodePath.join(directory, "docker.sock")
  return {
    containerd: sandboxPaths(directory),
    configFile,
    socketPath,
    cgroupParent: nodePath.basename(directory),
    ownPidFile: nodePath.join(directory, "docker.pid"),
    daemon: {
      name: "dockerd",
      command: "dockerd",
      args: ["--config-file", configFile],
      pidFile: nodePath.join(directory, "dockerd.pid"),
      logFile: nodePath.join(directory, "dockerd.log"),
      marker: configFile,
      answers: answersPing(socketPath)
    }
  }
}

const writeDaemonConfig = (paths: DockerPaths, liveRestore: boolean) =>
  attempt("start", "cannot write daemon.json", () => {
    const directory = nodePath.dirname(paths.configFile)
    return fs.writeFile(
      paths.configFile,
      JSON.stringify(
        {
          "data-root": nodePath.join(directory, "docker-data"),
          "exec-root": nodePath.join(directory, "docker-exec"),
          pidfile: paths.ownPidFile,
          hosts: [`unix://${paths.socketPath}`],
          containerd: paths.containerd.socketPath,
          // No networking at all: no bridge, no rules, no host interface.
          bridge: "none",
          iptables: false,
          "ip-masq": false,
          ip6tables: false,
          // 20.10 would write /etc/docker/key.json otherwise.
          "deprecated-key-path": nodePath.join(directory, "key.json"),
          "cgroup-parent": `/${paths.cgroupParent}`,
          "live-restore": liveRestore
        },
        null,
        2
      )
    )
  })

const startDockerd = (paths: DockerPaths, readyTimeoutMillis: number) =>
  Effect.gen(function*() {
    // dockerd refuses to start while its own pid file names a live process, and pids are reused.
    yield* attempt("start", "cannot remove dockerd's pid file", () => fs.rm(paths.ownPidFile, { force: true }))
    return yield* startDaemon(paths.daemon, readyTimeoutMillis)
  })

/** Removes what a Docker sandbox leaves outside of its directory's processes, and the directory. */
const removeDockerLeftovers = (
  paths: DockerPaths,
  tracking: SandboxTracking,
  created: { readonly runDocker: boolean; readonly runMount: boolean }
) =>
  Effect.gen(function*() {
    yield* killDaemon(paths.daemon, "teardown").pipe(Effect.ignore)
    yield* removeSandboxLeftovers(paths.containerd, tracking)
    yield* removeCgroupParent(paths.cgroupParent)
    if (created.runDocker) {
      yield* removeDirectoryIfEmpty("/run/docker/plugins")
      yield* removeDirectoryIfEmpty("/run/docker")
    }
    if (created.runMount) yield* removeDirectoryIfEmpty("/run/mount")
  })

/**
 * Starts a Docker sandbox in the current scope; closing the scope tears it down.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: DockerSandboxOptions = {}): Effect.Effect<DockerSandboxShape, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = {
      directoryPrefix: options.directoryPrefix ?? "/tmp/wwd-",
      readyTimeoutMillis: Duration.toMillis(options.readyTimeout ?? Duration.seconds(30)),
      stopTimeoutMillis: Duration.toMillis(options.stopTimeout ?? Duration.seconds(15))
    }
    let liveRestore = options.liveRestore ?? false
    yield* ensureHostTools(dockerRequirements, options.installMissingPackages ?? false)
    if (options.sweepStaleSandboxes ?? true) {
      yield* sweepStaleSandboxes(settings.directoryPrefix, (directory) =>
        Effect.gen(function*() {
          const paths = dockerPaths(directory)
          yield* killProcessesMentioning(paths.configFile)
          yield* cleanUpStaleDirectory(paths.containerd, settings, "DockerSandbox")
          yield* removeCgroupParent(paths.cgroupParent)
        })).pipe(Effect.ignoreCause({ log: "Warn", message: "DockerSandbox: sweeping stale sandboxes failed" }))
    }
    const created = {
      runDocker: !(yield* Effect.promise(() => existsNow("/run/docker"))),
      runMount: !(yield* Effect.promise(() => existsNow("/run/mount")))
    }

    const tracking: SandboxTracking = { containersByNamespace: new Map() }
    const paths = yield* Effect.acquireRelease(
      Effect.map(createSandboxDirectory(settings.directoryPrefix, "containerd.sock.ttrpc"), dockerPaths),
      (paths) =>
        removeDockerLeftovers(paths, tracking, created).pipe(
          Effect.ignoreCause({ log: "Warn", message: `DockerSandbox: removing ${paths.containerd.directory} failed` })
        )
    )
    const directory = paths.containerd.directory
    yield* attempt("start", "cannot create the fifo directory", () => fs.mkdir(paths.containerd.fifoDirectory))
    yield* writeContainerdConfig(paths.containerd)
    const lifecycle = yield* Semaphore.make(1)
    yield* Effect.acquireRelease(
      startContainerd(paths.containerd, settings.readyTimeoutMillis),
      () =>
        drainAndStopContainerd(paths.containerd, tracking, settings).pipe(
          Effect.ignoreCause({ log: "Warn", message: "DockerSandbox: stopping containerd failed" })
        )
    )
    yield* writeDaemonConfig(paths, liveRestore)
    yield* Effect.acquireRelease(
      startDockerd(paths, settings.readyTimeoutMillis),
      () =>
        lifecycle.withPermits(1)(Effect.gen(function*() {
          let pid = yield* findRunningDaemon(paths.daemon)
          // A stopped dockerd is started again so that it removes its containers itself.
          if (pid === undefined) pid = yield* startDockerd(paths, settings.readyTimeoutMillis)
          yield* removeAllContainers(paths.socketPath, directory)
          yield* stopDaemon(paths.daemon, pid, settings.stopTimeoutMillis)
        })).pipe(Effect.ignoreCause({ log: "Warn", message: "DockerSandbox: stopping dockerd failed" }))
    )
    yield* importBusyboxImage(paths.socketPath, directory)

    const stop = lifecycle.withPermits(1)(Effect.gen(function*() {
      const pid = yield* findRunningDaemon(paths.daemon)
      if (pid !== undefined) yield* stopDaemon(paths.daemon, pid, settings.stopTimeoutMillis)
    }))
    const start = (startOptions: { readonly liveRestore?: boolean } = {}) =>
      lifecycle.withPermits(1)(Effect.gen(function*() {
        if ((yield* findRunningDaemon(paths.daemon)) !== undefined) return
        if (startOptions.liveRestore !== undefined && startOptions.liveRestore !== liveRestore) {
          liveRestore = startOptions.liveRestore
          yield* writeDaemonConfig(paths, liveRestore)
        }
        yield* startDockerd(paths, settings.readyTimeoutMillis)
      }))
    const kill9 = lifecycle.withPermits(1)(killDaemon(paths.daemon, "kill9"))

    return DockerSandbox.of({
      ...makeOperations(paths.socketPath, directory, []),
      socketPath: paths.socketPath,
      containerdSocketPath: paths.containerd.socketPath,
      directory,
      stop,
      start,
      kill9
    })
  })

/**
 * A layer providing {@link DockerSandbox}: one private dockerd for the layer's lifetime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: DockerSandboxOptions): Layer.Layer<DockerSandbox, SandboxError> =>
  Layer.effect(DockerSandbox, make(options))
