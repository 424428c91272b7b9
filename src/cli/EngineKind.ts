/**
 * The engines the command can talk to, and what a person needs to know of each to find its
 * socket: its name, the environment variable that overrides the address, the default socket.
 *
 * @since 0.1.0
 */
import { DefaultAddress as DefaultContainerdAddress } from "../containerd/ContainerdConnection.ts"
import { DefaultDockerAddress, DefaultPodmanAddress } from "../docker/DockerConnection.ts"

/**
 * The engine selected with `--engine`.
 *
 * @category models
 * @since 0.1.0
 */
export type EngineKind = "containerd" | "docker" | "podman"

/**
 * Every {@link EngineKind}, in the order `--help` lists them.
 *
 * @category constants
 * @since 0.1.0
 */
export const engineKinds: ReadonlyArray<EngineKind> = ["containerd", "docker", "podman"]

/**
 * What the command tells about an engine.
 *
 * @category models
 * @since 0.1.0
 */
export interface EngineFacts {
  /** The engine's name in messages ("containerd", "Docker", "Podman"). */
  readonly name: string
  /** The environment variable read when `--address` is not given. */
  readonly variable: string
  /** The socket used when neither `--address` nor the variable is given. */
  readonly defaultAddress: string
  /** What runs the API, for "is it running?" hints. */
  readonly daemon: string
}

/**
 * The facts of each engine.
 *
 * @category constants
 * @since 0.1.0
 */
export const engineFacts: Readonly<Record<EngineKind, EngineFacts>> = {
  containerd: {
    name: "containerd",
    variable: "CONTAINERD_ADDRESS",
    defaultAddress: DefaultContainerdAddress,
    daemon: "containerd"
  },
  docker: { name: "Docker", variable: "DOCKER_HOST", defaultAddress: DefaultDockerAddress, daemon: "dockerd" },
  podman: {
    name: "Podman",
    variable: "CONTAINER_HOST",
    defaultAddress: DefaultPodmanAddress,
    daemon: "the podman API service (podman system service, or podman.socket)"
  }
}
