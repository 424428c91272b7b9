/**
 * A real, private Podman API service for integration tests, as an Effect scoped layer.
 *
 * Acquiring the layer creates a short private directory (`/tmp/wwp-XXXXXX`) and starts
 * `podman system service` on a socket inside it, with its own root, run root, tmp dirs, network
 * config dir, file event log, file locks and cgroupfs (a private `containers.conf` through
 * `CONTAINERS_CONF`); then it imports the busybox image with `docker import` through the
 * service's Docker-compatible API. Containers run with no network, never pull, and under a
 * private cgroup parent. Releasing it force-removes every container, stops the service, kills
 * the conmons still waiting, unmounts and removes the directory and the cgroups.
 *
 * Needs Linux, root and Debian's `podman`, `docker.io` (for the `docker` command line) and
 * `busybox-static` (installed with apt-get only when `installMissingPackages` is set).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Context, Duration, Effect, Layer, type Scope, Semaphore } from "effect"
import type { EngineSandboxOperations } from "./DockerSandbox.ts"
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
import { removeDirectoryIfEmpty, unmountEverythingBelow } from "./internal/teardown.ts"

export { SandboxError }

/**
 * Settings of a Podman sandbox. All optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface PodmanSandboxOptions {
  /** `mkdtemp` prefix of the private directory. Default `"/tmp/wwp-"`; keep it short (socket paths). */
  readonly directoryPrefix?: string
  /** How long the service may take to answer after a (re)start. Default 30 seconds. */
  readonly readyTimeout?: Duration.Input
  /** How long the service may take to exit after SIGTERM before it gets SIGKILL. Default 15 seconds. */
  readonly stopTimeout?: Duration.Input
  /** Install missing Debian packages with apt-get when running as root. Default `false`. */
  readonly installMissingPackages?: boolean
  /** Clean up sandboxes left by crashed runs before starting. Default `true`. */
  readonly sweepStaleSandboxes?: boolean
}

/**
 * The running Podman sandbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface PodmanSandboxShape extends EngineSandboxOperations {
  /** The service's API socket (Docker-compatible and libpod API). */
  readonly socketPath: string
  /** The private directory. */
  readonly directory: string
  /** Stops the service with SIGTERM and waits (containers keep running under their conmons). */
  readonly stop: Effect.Effect<void, SandboxError>
  /** Starts the service again. */
  readonly start: Effect.Effect<void, SandboxError>
  /** Kills the service with SIGKILL, as a crash would. */
  readonly kill9: Effect.Effect<void, SandboxError>
}

const PodmanSandboxBase: Context.ServiceClass<
  PodmanSandbox,
  "effect-whalewatcher/testing/PodmanSandbox",
  PodmanSandboxShape
> = Context.Service<PodmanSandbox, PodmanSandboxShape>()("effect-whalewatcher/testing/PodmanSandbox")

/**
 * A private Podman API service, for integration tests. Needs Linux and root.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PodmanSandbox } from "effect-whalewatcher/testing"
 *
 * const program = Effect.gen(function*() {
 *   const sandbox = yield* PodmanSandbox.PodmanSandbox
 *   const { id, pid } = yield* sandbox.run({ name: "web" })
 *   return { id, pid, socket: sandbox.socketPath }
 * }).pipe(Effect.provide(PodmanSandbox.layer()))
 * ```
 * @since 0.1.0
 * @category services
 */
export class PodmanSandbox extends PodmanSandboxBase {}

const podmanRequirements: HostRequirements = {
  purpose: "podman",
  programs: ["podman", "conmon", "runc", "docker", "tar"],
  files: [hostBusybox],
  packages: ["podman", "docker.io", "busybox-static"]
}

interface PodmanPaths {
  readonly directory: string
  readonly socketPath: string
  readonly cgroupParent: string
  readonly containersConf: string
  readonly daemon: DaemonSpec
}

const podmanPaths = (directory: string): PodmanPaths => {
  const socketPath = nodePath.join(directory, "podman.sock")
  const containersConf = nodePath.join(directory, "containers.conf")
  const path = (name: string) => nodePath.join(directory, name)
  return {
    directory,
    socketPath,
    cgroupParent: nodePath.basename(directory),
    containersConf,
    daemon: {
      name: "podman system service",
      command: "podman",
      args: [
        "--root",
        path("root"),
        "--runroot",
        path("run"),
        "--tmpdir",
        path("tmp"),
        "--network-config-dir",
        path("net"),
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
        "--storage-driver",
        "overlay",
        "system",
        "service",
        "--time",
        "0",
        `unix://${socketPath}`
      ],
      // With CONTAINER_HOST set, podman turns into a remote client.
      environment: { CONTAINERS_CONF: containersConf, CONTAINER_HOST: undefined },
      pidFile: path("podman.pid"),
      logFile: path("podman.log"),
      marker: `unix://${socketPath}`,
      answers: answersPing(socketPath)
    }
  }
}

const tomlString = (value: string): string => JSON.stringify(value)

const writeContainersConf = (paths: PodmanPaths) =>
  attempt("start", "cannot write containers.conf", async () => {
    const path = (name: string) => nodePath.join(paths.directory, name)
    for (const name of ["tmp", "net"]) await fs.mkdir(path(name), { recursive: true })
    await fs.writeFile(
      paths.containersConf,
      [
        "[containers]",
        // This sandbox may lack CAP_SYS_RESOURCE: podman's default rlimits would fail every start.
        `default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]`,
        "",
        "[engine]",
        `events_logger = "file"`,
        `events_logfile_path = ${tomlString(path("events.log"))}`,
        `cgroup_manager = "cgroupfs"`,
        `tmp_dir = ${tomlString(path("tmp"))}`,
        // Compat image uploads go here, not to /var/tmp.
        `image_copy_tmp_dir = ${tomlString(path("tmp"))}`,
        // Off the shared /dev/shm lock file.
        `lock_type = "file"`,
        "",
        "[network]",
        `network_config_dir = ${tomlString(path("net"))}`,
        ""
      ].join("\n")
    )
  })

const removePodmanLeftovers = (paths: PodmanPaths, created: { readonly runRunc: boolean; readonly blobCache: boolean }) =>
  Effect.gen(function*() {
    yield* killDaemon(paths.daemon, "teardown").pipe(Effect.ignore)
    // conmons (one waits 300 s after each exec) and whatever they still supervise.
    yield* killProcessesMentioning(paths.directory)
    yield* unmountEverythingBelow(paths.directory)
    yield* attempt("teardown", `cannot remove ${paths.directory}`, () =>
      fs.rm(paths.directory, { recursive: true, force: true, maxRetries: 3 }))
    yield* removeCgroupParent(paths.cgroupParent)
    if (created.runRunc) yield* removeDirectoryIfEmpty("/run/runc")
    if (created.blobCache) {
      yield* Effect.promise(() => fs.rm("/var/lib/containers/cache", { recursive: true, force: true }))
      yield* removeDirectoryIfEmpty("/var/lib/containers")
    }
  })

/**
 * Starts a Podman sandbox in the current scope; closing the scope tears it down.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: PodmanSandboxOptions = {}): Effect.Effect<PodmanSandboxShape, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const directoryPrefix = options.directoryPrefix ?? "/tmp/wwp-"
    const readyTimeoutMillis = Duration.toMillis(options.readyTimeout ?? Duration.seconds(30))
    const stopTimeoutMillis = Duration.toMillis(options.stopTimeout ?? Duration.seconds(15))
    yield* ensureHostTools(podmanRequirements, options.installMissingPackages ?? false)
    const created = {
      runRunc: !(yield* Effect.promise(() => existsNow("/run/runc"))),
      blobCache: !(yield* Effect.promise(() => existsNow("/var/lib/containers")))
    }
    if (options.sweepStaleSandboxes ?? true) {
      yield* sweepStaleSandboxes(directoryPrefix, (directory) =>
        removePodmanLeftovers(podmanPaths(directory), { runRunc: false, blobCache: false }).pipe(
          Effect.ignoreCause({ log: "Warn", message: `PodmanSandbox: stale ${directory}: removal failed` })
        )).pipe(Effect.ignoreCause({ log: "Warn", message: "PodmanSandbox: sweeping stale sandboxes failed" }))
    }
    const paths = yield* Effect.acquireRelease(
      Effect.map(createSandboxDirectory(directoryPrefix, "podman.sock"), podmanPaths),
      (paths) =>
        removePodmanLeftovers(paths, created).pipe(
          Effect.ignoreCause({ log: "Warn", message: `PodmanSandbox: removing ${paths.directory} failed` })
        )
    )
    yield* writeContainersConf(paths)
    const lifecycle = yield* Semaphore.make(1)
    yield* Effect.acquireRelease(
      startDaemon(paths.daemon, readyTimeoutMillis),
      () =>
        lifecycle.withPermits(1)(Effect.gen(function*() {
          let pid = yield* findRunningDaemon(paths.daemon)
          if (pid === undefined) pid = yield* startDaemon(paths.daemon, readyTimeoutMillis)
          yield* removeAllContainers(paths.socketPath, paths.directory)
          yield* stopDaemon(paths.daemon, pid, stopTimeoutMillis)
        })).pipe(Effect.ignoreCause({ log: "Warn", message: "PodmanSandbox: stopping the service failed" }))
    )
    yield* importBusyboxImage(paths.socketPath, paths.directory)

    return PodmanSandbox.of({
      ...makeOperations(paths.socketPath, paths.directory, ["--cgroup-parent", `/${paths.cgroupParent}`]),
      socketPath: paths.socketPath,
      directory: paths.directory,
      stop: lifecycle.withPermits(1)(Effect.gen(function*() {
        const pid = yield* findRunningDaemon(paths.daemon)
        if (pid !== undefined) yield* stopDaemon(paths.daemon, pid, stopTimeoutMillis)
      })),
      start: lifecycle.withPermits(1)(Effect.gen(function*() {
        if ((yield* findRunningDaemon(paths.daemon)) === undefined) yield* startDaemon(paths.daemon, readyTimeoutMillis)
      })),
      kill9: lifecycle.withPermits(1)(killDaemon(paths.daemon, "kill9"))
    })
  })

/**
 * A layer providing {@link PodmanSandbox}: one private Podman service for the layer's lifetime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: PodmanSandboxOptions): Layer.Layer<PodmanSandbox, SandboxError> =>
  Layer.effect(PodmanSandbox, make(options))
