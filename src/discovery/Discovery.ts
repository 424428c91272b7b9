/**
 * Finds the container engines running on a Linux host without being told where their sockets
 * are: containerd, dockerd and the podman API service (and, reported as found but unsupported,
 * engines it recognises but cannot watch, such as cri-o).
 *
 * Each engine process is found by its name in /proc; its listening unix sockets by matching the
 * listeners of its network namespace (`/proc/PID/net/unix`) with the sockets it holds open
 * (`/proc/PID/fd`); a socket of a process in another mount namespace is reached through
 * `/proc/PID/root`. The well-known default paths are candidates too (a socket-activated podman has
 * no process until the first call). Every candidate is probed with the cheapest call of its API
 * before it is reported, so a containerd ttrpc socket, a Docker socket taken for containerd's or a
 * dead socket file are never mistaken for an engine. A caller without the privileges to read other
 * processes' descriptors gets what it can see, and a note that says what it could not.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Context, Duration, Effect, Layer } from "effect"
import * as ContainerdEngine from "../containerd/ContainerdEngine.ts"
import * as ContainerdConnection from "../containerd/ContainerdConnection.ts"
import * as LabelMapping from "../containerd/LabelMapping.ts"
import * as NamespaceFilter from "../containerd/NamespaceFilter.ts"
import * as DockerConnection from "../docker/DockerConnection.ts"
import * as DockerEngine from "../docker/DockerEngine.ts"
import { listeningSockets, mountNamespace, type ProcessEntry, readProcesses, socketInodes } from "./internal/procfs.ts"

/**
 * The engines discovery can watch.
 *
 * @since 0.1.0
 * @category models
 */
export type EngineKind = "containerd" | "docker" | "podman"

/**
 * An engine that answered its API on a socket.
 *
 * @since 0.1.0
 * @category models
 */
export interface FoundEngine {
  /** Which engine it is; Docker and Podman are told apart by their ping. */
  readonly kind: EngineKind
  /** The engine type string of its EngineClient (`containerd.io`, `docker.com`). */
  readonly type: string
  /** The socket, as a path this process can open. */
  readonly socketPath: string
  /** The engine's process, when known (a socket found only by its default path may have none). */
  readonly pid: number | undefined
  /** The engine's version, as its EngineClient reports it. */
  readonly version: string
  /** The engine's persistent ID (containerd's uuid, the Docker daemon's ID). */
  readonly id: string
}

/**
 * A process of an engine that is recognised but not supported.
 *
 * @since 0.1.0
 * @category models
 */
export interface UnsupportedEngine {
  /** The engine's name, e.g. `cri-o`. */
  readonly name: string
  /** Its process. */
  readonly pid: number
  /** The unix sockets it listens on, as far as they could be seen. */
  readonly socketPaths: ReadonlyArray<string>
}

/**
 * What discovery found.
 *
 * @since 0.1.0
 * @category models
 */
export interface Discovered {
  /** The engines that answered, ordered by kind, then socket path. */
  readonly engines: ReadonlyArray<FoundEngine>
  /** Recognised engines that cannot be watched. */
  readonly unsupported: ReadonlyArray<UnsupportedEngine>
  /** What could not be seen, in a person's words (e.g. without privileges), empty when nothing. */
  readonly notes: ReadonlyArray<string>
}

/**
 * A candidate socket's probe result: the engine's facts, or undefined when it does not answer
 * its API.
 *
 * @since 0.1.0
 * @category models
 */
export type ProbeResult = Omit<FoundEngine, "socketPath" | "pid"> | undefined

/**
 * Asks a socket whether it serves an engine API of the given family: `containerd` (gRPC) or
 * `docker` (the Docker Engine API of Docker and Podman).
 *
 * @since 0.1.0
 * @category models
 */
export type Probe = (family: "containerd" | "docker", socketPath: string) => Effect.Effect<ProbeResult>

/**
 * Options of {@link discover}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoveryOptions {
  /** Where /proc is (tests point it at a fake tree). Default `/proc`. */
  readonly procRoot?: string | undefined
  /** Default socket paths probed besides those of processes; default {@link WellKnownSockets}. */
  readonly wellKnownSockets?: ReadonlyArray<readonly [family: "containerd" | "docker", path: string]> | undefined
  /** How candidates are asked; default {@link probeSocket}. */
  readonly probe?: Probe | undefined
  /** How long one probe may take. Default 3 seconds. */
  readonly probeTimeout?: Duration.Input | undefined
}

/**
 * The default sockets of containerd (also k3s's), Docker and Podman (root's and this user's).
 *
 * @since 0.1.0
 * @category constants
 */
export const WellKnownSockets: ReadonlyArray<readonly ["containerd" | "docker", string]> = [
  ["containerd", ContainerdConnection.DefaultAddress],
  ["containerd", "/run/k3s/containerd/containerd.sock"],
  ["docker", DockerConnection.DefaultDockerAddress],
  ["docker", DockerConnection.DefaultPodmanAddress],
  ...(typeof process.getuid === "function" && process.getuid() !== 0
    ? [["docker", `/run/user/${process.getuid()}/podman/podman.sock`] as const]
    : [])
]

/** How a process is recognised: its command name, and for podman its `system service` arguments. */
const recognise = (process: ProcessEntry): { readonly family: "containerd" | "docker" } | { readonly unsupported: string } | undefined => {
  switch (process.name) {
    case "containerd":
      return { family: "containerd" }
    case "dockerd":
      return { family: "docker" }
    case "podman":
      return process.commandLine.includes("service") ? { family: "docker" } : undefined
    case "crio":
      return { unsupported: "cri-o" }
    default:
      return undefined
  }
}

/**
 * Probes with the engine clients themselves: containerd's version and uuid; the Docker Engine
 * API's ping (which tells Podman from Docker), version and daemon ID.
 *
 * @since 0.1.0
 * @category constructors
 */
export const probeSocket: Probe = (family, socketPath): Effect.Effect<ProbeResult> =>
  family === "containerd"
    ? Effect.gen(function*() {
      const engine = yield* ContainerdEngine.make()
      const version = yield* engine.version
      const id = yield* engine.id
      return { kind: "containerd" as const, type: engine.type, version, id }
    }).pipe(
      Effect.provide(Layer.mergeAll(
        ContainerdConnection.layer({ address: socketPath, unaryTimeout: "2 seconds" }),
        NamespaceFilter.layer,
        LabelMapping.layer
      )),
      Effect.scoped,
      Effect.orElseSucceed(() => undefined)
    )
    : Effect.gen(function*() {
      const engine = yield* DockerEngine.make()
      const ping = yield* engine.client.ping
      const version = yield* engine.version
      const id = yield* engine.id
      return { kind: ping.isPodman ? "podman" as const : "docker" as const, type: engine.type, version, id }
    }).pipe(
      Effect.provide(DockerConnection.layer({ address: socketPath, unaryTimeout: "2 seconds" })),
      Effect.scoped,
      Effect.orElseSucceed(() => undefined)
    )

interface Candidate {
  readonly family: "containerd" | "docker"
  readonly socketPath: string
  readonly pid: number | undefined
}

/** The same socket file reached by two paths is one socket: compared by device and inode. */
const socketIdentity = (path: string): Promise<string | undefined> =>
  fs.stat(path).then((stats) => (stats.isSocket() ? `${stats.dev}:${stats.ino}` : undefined), () => undefined)

/**
 * Finds the engines on this host: their processes and sockets, probed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover = (options: DiscoveryOptions = {}): Effect.Effect<Discovered> =>
  Effect.gen(function*() {
    const root = options.procRoot ?? "/proc"
    const probe = options.probe ?? probeSocket
    const timeout = options.probeTimeout ?? "3 seconds"
    const processes = yield* Effect.promise(() => readProcesses(root))
    const ownMounts = yield* Effect.promise(() => mountNamespace(root, "self"))
    const candidates: Array<Candidate> = []
    const unsupported: Array<UnsupportedEngine> = []
    const denied: Array<number> = []
    for (const process of processes) {
      const recognised = recognise(process)
      if (recognised === undefined) continue
      const paths = yield* Effect.promise(() => socketsOf(root, process.pid, ownMounts))
      if (paths === undefined) denied.push(process.pid)
      if ("unsupported" in recognised) {
        unsupported.push({ name: recognised.unsupported, pid: process.pid, socketPaths: paths ?? [] })
        continue
      }
      for (const socketPath of paths ?? []) candidates.push({ family: recognised.family, socketPath, pid: process.pid })
    }
    for (const [family, socketPath] of options.wellKnownSockets ?? WellKnownSockets) {
      candidates.push({ family, socketPath, pid: undefined })
    }
    // One probe per socket file: the first path found for it (a process's own) wins.
    const unique = new Map<string, Candidate>()
    for (const candidate of candidates) {
      const identity = (yield* Effect.promise(() => socketIdentity(candidate.socketPath))) ?? `path:${candidate.socketPath}`
      const known = unique.get(identity)
      if (known === undefined) unique.set(identity, candidate)
      else if (known.pid === undefined && candidate.pid !== undefined) unique.set(identity, { ...known, pid: candidate.pid })
    }
    const probed = yield* Effect.forEach([...unique.values()], (candidate) =>
      probe(candidate.family, candidate.socketPath).pipe(
        Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.succeed(undefined) }),
        Effect.map((result): FoundEngine | undefined =>
          result === undefined ? undefined : { ...result, socketPath: candidate.socketPath, pid: candidate.pid }
        )
      ), { concurrency: 8 })
    const engines = probed
      .filter((engine): engine is FoundEngine => engine !== undefined)
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.socketPath.localeCompare(b.socketPath))
    const notes = denied.length === 0 ? [] : [
      `cannot read the open sockets of engine process${denied.length === 1 ? "" : "es"} ${denied.join(", ")} ` +
      "(not permitted): only their default socket paths were tried; run as root to see every socket"
    ]
    return { engines, unsupported, notes }
  })

/**
 * The paths of the unix sockets `pid` listens on, as this process can open them, or undefined
 * when its descriptors cannot be read.
 */
const socketsOf = async (root: string, pid: number, ownMounts: string | undefined): Promise<ReadonlyArray<string> | undefined> => {
  const held = await socketInodes(root, pid)
  if (held === undefined) return undefined
  const listening = await listeningSockets(root, pid)
  const theirMounts = await mountNamespace(root, pid)
  const elsewhere = theirMounts !== undefined && ownMounts !== undefined && theirMounts !== ownMounts
  const paths: Array<string> = []
  for (const [inode, path] of listening) {
    if (!held.has(inode)) continue
    paths.push(elsewhere ? nodePath.join(root, String(pid), "root", path) : path)
  }
  return paths.sort()
}

/**
 * What {@link Discovery} offers.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoveryShape {
  /** Looks for engines now; each call looks again. */
  readonly discover: Effect.Effect<Discovered>
}

/**
 * The discovery service.
 *
 * @since 0.1.0
 * @category services
 */
export const Discovery: Context.Service<Discovery, DiscoveryShape> = Context.Service<Discovery, DiscoveryShape>(
  "effect-whalewatcher/discovery/Discovery"
)

/**
 * The identifier type of the {@link Discovery} service.
 *
 * @since 0.1.0
 * @category services
 */
export interface Discovery {
  /** Brands the identifier type. */
  readonly _: unique symbol
}

/**
 * Discovery on this host's /proc (or the options' tree and probe).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: DiscoveryOptions = {}): Layer.Layer<Discovery> =>
  Layer.succeed(Discovery, { discover: discover(options) })
