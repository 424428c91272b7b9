/**
 * Maps transport failures of the Docker Engine API client to tagged engine errors that name the
 * socket.
 * @internal
 */
import { Predicate } from "effect"
import { HttpClientError } from "effect/http"
import { EngineRequestError, EngineUnavailable, type UnavailableReason } from "../../EngineError.ts"

const codeOf = (cause: unknown): string | undefined =>
  Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** The innermost cause that carries an error code (transports wrap them). */
const rootCause = (cause: unknown): unknown => {
  let current = cause
  for (let depth = 0; depth < 5; depth++) {
    if (codeOf(current) !== undefined) return current
    if (!Predicate.hasProperty(current, "cause") || current.cause === undefined) return current
    current = current.cause
  }
  return current
}

const reasonFor = (code: string | undefined, message: string): UnavailableReason =>
  code === "ENOENT" || code === "ENOTDIR"
    ? "SocketNotFound"
    : code === "EACCES" || code === "EPERM"
    ? "PermissionDenied"
    : code === "ECONNREFUSED" || code === "ENOTSOCK"
    ? "NotListening"
    : code === "ETIMEDOUT"
    ? "DeadlineExceeded"
    : /aborted|reset|hang up|closed|EPIPE/i.test(`${code ?? ""} ${message}`)
    ? "ConnectionLost"
    : "Unavailable"

/** Facts for an error: the socket and the operation. */
export interface ErrorContext {
  readonly address: string
  readonly operation: string
}

/**
 * A failure of the transport (or of reading a body) as an engine error. A socket that answers
 * with something other than HTTP/1.1 (containerd's gRPC socket, say) is a request error saying so.
 */
export const classifyError = (error: unknown, context: ErrorContext): EngineUnavailable | EngineRequestError => {
  const cause = HttpClientError.isHttpClientError(error) ? error.reason.cause ?? error.reason : error
  const root = rootCause(cause)
  const code = codeOf(root)
  const message = messageOf(root)
  if (code !== undefined && code.startsWith("HPE_")) {
    return new EngineRequestError({
      ...context,
      code: "NotDockerApi",
      detail: `the socket does not speak HTTP/1.1, so it is not a Docker Engine API (${message})`,
      cause: error
    })
  }
  return new EngineUnavailable({
    ...context,
    reason: reasonFor(code, message),
    detail: code === undefined ? message : `${code}: ${message}`,
    cause: error
  })
}

/** The status code's name for {@link EngineRequestError.code}. */
export const statusName = (status: number): string => {
  switch (status) {
    case 400:
      return "InvalidArgument"
    case 401:
    case 403:
      return "PermissionDenied"
    case 404:
      return "NotFound"
    case 409:
      return "Conflict"
    case 500:
      return "Internal"
    case 501:
      return "Unimplemented"
    case 503:
      return "Unavailable"
    default:
      return `HTTP ${status}`
  }
}
