/**
 * The errors an engine client fails with: typed, tagged values that always name the engine's
 * address (e.g. containerd's socket path) and, where it applies, the container.
 *
 * - {@link EngineUnavailable}: the engine cannot be reached or went away; `reason` says why.
 * - {@link EngineRequestError}: the engine answered a request with an error status.
 * - {@link ContainerNotFound}: no container has the given name or ID.
 * - {@link ProcesslessContainer}: the container exists but has no initial process (not alive).
 *
 * `isRetryable` tells a watcher whether trying again later can help.
 *
 * @since 0.1.0
 */
import { Predicate } from "effect"
import { type TaggedErrorClass, taggedError } from "./internal/taggedError.ts"

const TypeId = "~effect-whalewatcher/EngineError" as const

/**
 * Why an engine is unavailable:
 * - `SocketNotFound`: nothing exists at the socket path (is the engine running? is the path right?);
 * - `PermissionDenied`: the socket exists but this process may not open it;
 * - `NotListening`: the socket exists but no engine accepts connections on it;
 * - `NotASocket`: something exists at the path, but it is not a socket (e.g. a regular file);
 * - `ConnectionLost`: an established connection broke during a call or stream;
 * - `DeadlineExceeded`: the engine did not answer in time;
 * - `Unavailable`: the engine said it cannot serve now (e.g. it is shutting down);
 * - `Closed`: the connection's scope was closed; it serves no more calls.
 *
 * @category errors
 * @since 0.1.0
 */
export type UnavailableReason =
  | "SocketNotFound"
  | "PermissionDenied"
  | "NotListening"
  | "NotASocket"
  | "NotTheEngineApi"
  | "ConnectionLost"
  | "DeadlineExceeded"
  | "Unavailable"
  | "Closed"

const reasonHints: Record<UnavailableReason, string> = {
  SocketNotFound: "no socket at this path (is the engine running? is the address right?)",
  PermissionDenied: "permission denied (run as root, or as a member of the group owning the socket)",
  NotListening: "the socket exists but nothing listens on it (is the engine running?)",
  NotASocket: "the path exists but is not a socket (is the address right?)",
  NotTheEngineApi: "the socket does not speak the engine's API (is the address right?)",
  ConnectionLost: "the connection to the engine was lost",
  DeadlineExceeded: "the engine did not answer in time",
  Unavailable: "the engine is unavailable",
  Closed: "the connection was closed by its scope"
}

/**
 * Fields of {@link EngineUnavailable}.
 *
 * @category errors
 * @since 0.1.0
 */
export interface EngineUnavailableFields {
  /** The engine's API address, e.g. the containerd socket path. */
  readonly address: string
  /** The operation that failed, e.g. `Containers.List`. */
  readonly operation: string
  /** Why the engine is unavailable. */
  readonly reason: UnavailableReason
  /** The engine's or the operating system's own words. */
  readonly detail: string
  /** The underlying error, as thrown by the transport. */
  readonly cause?: unknown
}

const EngineUnavailableBase: TaggedErrorClass<"EngineUnavailable", EngineUnavailableFields> = taggedError("EngineUnavailable")

/**
 * The engine cannot be reached, or the connection to it broke.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EngineError } from "effect-whalewatcher"
 *
 * declare const program: Effect.Effect<void, EngineError.EngineError>
 * program.pipe(
 *   Effect.catchTag("EngineUnavailable", (error) =>
 *     Effect.logWarning(`${error.reason} at ${error.address}: ${error.message}`))
 * )
 * ```
 * @category errors
 * @since 0.1.0
 */
export class EngineUnavailable extends EngineUnavailableBase {
  /** Marks engine errors for {@link isEngineError}. */
  readonly [TypeId]: typeof TypeId = TypeId

  /** A sentence for people, naming the address and what went wrong. */
  override get message(): string {
    return `${this.operation} at ${this.address || "(no address)"}: ${reasonHints[this.reason]}${this.detail ? ` (${this.detail})` : ""}`
  }

  /**
   * True unless retrying cannot help: a permission problem or a closed connection needs a person
   * or a new connection, not another attempt.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason !== "PermissionDenied" && this.reason !== "Closed"
  }
}

/**
 * Fields of {@link EngineRequestError}.
 *
 * @category errors
 * @since 0.1.0
 */
export interface EngineRequestErrorFields {
  /** The engine's API address, e.g. the containerd socket path. */
  readonly address: string
  /** The operation that failed, e.g. `Containers.Get`. */
  readonly operation: string
  /** The namespace the request was made in, when it had one. */
  readonly namespace?: string | undefined
  /** The status code's name, e.g. `NotFound`, `InvalidArgument`, `ResourceExhausted`. */
  readonly code: string
  /** The engine's own message. */
  readonly detail: string
  /** The underlying error, as thrown by the transport. */
  readonly cause?: unknown
}

const EngineRequestErrorBase: TaggedErrorClass<"EngineRequestError", EngineRequestErrorFields> = taggedError("EngineRequestError")

/**
 * The engine answered a request with an error status (for containerd: a gRPC status other than
 * the connection-level ones mapped to {@link EngineUnavailable}).
 *
 * @category errors
 * @since 0.1.0
 */
export class EngineRequestError extends EngineRequestErrorBase {
  /** Marks engine errors for {@link isEngineError}. */
  readonly [TypeId]: typeof TypeId = TypeId

  /** A sentence for people, naming the address and what went wrong. */
  override get message(): string {
    const where = this.namespace === undefined ? "" : ` in namespace ${this.namespace}`
    return `${this.operation}${where} at ${this.address || "(no address)"} failed with ${this.code}: ${this.detail}`
  }

  /**
   * Only transient statuses are worth retrying.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.code === "ResourceExhausted" || this.code === "Aborted" || this.code === "Internal" ||
      this.code === "Unknown"
  }
}

/**
 * Fields of {@link ContainerNotFound}.
 *
 * @category errors
 * @since 0.1.0
 */
export interface ContainerNotFoundFields {
  /** The engine's API address. */
  readonly address: string
  /** What was looked up: a display ID or a name. */
  readonly nameOrId: string
}

const ContainerNotFoundBase: TaggedErrorClass<"ContainerNotFound", ContainerNotFoundFields> = taggedError("ContainerNotFound")

/**
 * No container with this name or ID exists (or it lives in a namespace the client ignores).
 *
 * @category errors
 * @since 0.1.0
 */
export class ContainerNotFound extends ContainerNotFoundBase {
  /** Marks engine errors for {@link isEngineError}. */
  readonly [TypeId]: typeof TypeId = TypeId

  /** A sentence for people, naming the address and what went wrong. */
  override get message(): string {
    return `no container named or with ID "${this.nameOrId}" at ${this.address || "(no address)"}`
  }

  /** Whether trying again later can help (not for this error). */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Fields of {@link ProcesslessContainer}.
 *
 * @category errors
 * @since 0.1.0
 */
export interface ProcesslessContainerFields {
  /** The engine's API address. */
  readonly address: string
  /** The container's display ID. */
  readonly id: string
}

const ProcesslessContainerBase: TaggedErrorClass<"ProcesslessContainer", ProcesslessContainerFields> = taggedError("ProcesslessContainer")

/**
 * The container exists but has no initial process: it was created and never started, or its
 * process has exited and was not yet deleted. Such a container is not alive.
 *
 * @category errors
 * @since 0.1.0
 */
export class ProcesslessContainer extends ProcesslessContainerBase {
  /** Marks engine errors for {@link isEngineError}. */
  readonly [TypeId]: typeof TypeId = TypeId

  /** A sentence for people, naming the address and what went wrong. */
  override get message(): string {
    return `container "${this.id}" at ${this.address || "(no address)"} has no initial process`
  }

  /** Whether trying again later can help (not for this error). */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Any error of an engine client.
 *
 * @category errors
 * @since 0.1.0
 */
export type EngineError = EngineUnavailable | EngineRequestError | ContainerNotFound | ProcesslessContainer

/**
 * True for any {@link EngineError}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isEngineError = (u: unknown): u is EngineError => Predicate.hasProperty(u, TypeId)
