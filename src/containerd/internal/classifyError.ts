/**
 * Maps what connect-es throws into the library's tagged engine errors.
 * @internal
 */
import { statSync } from "node:fs"
import { Code, ConnectError } from "@connectrpc/connect"
import { Predicate } from "effect"
import { EngineRequestError, EngineUnavailable, type UnavailableReason } from "../../EngineError.ts"

/** What a failed call was doing, for the error's text and for telling our own aborts apart. */
export interface CallContext {
  readonly address: string
  readonly operation: string
  readonly namespace?: string | undefined
  /** True when this side cancelled the call (interruption, scope closed). */
  readonly abortedByUs: boolean
}

const systemCodes: ReadonlyMap<string, UnavailableReason> = new Map([
  ["ENOENT", "SocketNotFound"],
  ["EACCES", "PermissionDenied"],
  ["EPERM", "PermissionDenied"],
  ["ECONNREFUSED", "NotListening"],
  ["ENOTSOCK", "NotASocket"],
  ["ECONNRESET", "ConnectionLost"],
  ["EPIPE", "ConnectionLost"]
])

/** True when something other than a socket exists at `path` (checked only after a failed connect). */
const isNotASocket = (path: string): boolean => {
  try {
    return !statSync(path).isSocket()
  } catch {
    return false
  }
}

/** Finds the operating system's error code (ENOENT, ...) anywhere in a cause chain. */
const systemCodeOf = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 8 && Predicate.isObject(current); depth++) {
    const code = (current as { code?: unknown }).code
    if (Predicate.isString(code) && systemCodes.has(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

// How a broken connection shows up across runtimes: a GOAWAY on shutdown ("Session closed with
// error code 8"), Deno's "protocol error: missing status" when the session is destroyed, a stream
// reset, Deno's "expected open session, but it is destroyed" when the server closed at once.
// None of these are the engine's own status.
const lostConnectionText = /session closed|stream closed|protocol error|socket hang up|premature close|goaway|connection reset|closed stream|RST_STREAM|aborted|session, but it is destroyed/i

/** Classifies any error thrown by a connect-es call on the containerd connection. */
export const classifyError = (error: unknown, context: CallContext): EngineUnavailable | EngineRequestError => {
  const connectError = ConnectError.from(error)
  const detail = connectError.rawMessage
  const unavailable = (reason: UnavailableReason) =>
    new EngineUnavailable({
      address: context.address,
      operation: context.operation,
      reason,
      detail,
      cause: error
    })

  const systemCode = systemCodeOf(connectError)
  // Linux refuses a connect to a path that is not a socket (a regular file) like a dead socket.
  if (systemCode === "ECONNREFUSED" && isNotASocket(context.address)) return unavailable("NotASocket")
  if (systemCode !== undefined) return unavailable(systemCodes.get(systemCode)!)

  switch (connectError.code) {
    case Code.Canceled:
      // A cancel we did not ask for means the other side (or the transport) went away.
      return unavailable(context.abortedByUs ? "Closed" : "ConnectionLost")
    case Code.DeadlineExceeded:
      return unavailable("DeadlineExceeded")
    case Code.Unavailable:
      return unavailable(lostConnectionText.test(detail) ? "ConnectionLost" : "Unavailable")
    case Code.Internal:
    case Code.Unknown:
      if (lostConnectionText.test(detail)) return unavailable("ConnectionLost")
      break
  }
  return new EngineRequestError({
    address: context.address,
    operation: context.operation,
    namespace: context.namespace,
    code: Code[connectError.code],
    detail,
    cause: error
  })
}
