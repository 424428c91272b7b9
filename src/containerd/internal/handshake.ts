/**
 * Tells whether a unix socket speaks HTTP/2 (as containerd's gRPC API does), by the first thing
 * an HTTP/2 server must do: answer a client's connection preface with a SETTINGS frame. Used only
 * after a call went wrong or is slow, to tell "not containerd's API socket" (containerd's ttrpc
 * socket, an HTTP/1 server, anything else) from a containerd that is slow or went away.
 * @internal
 */
import * as net from "node:net"

/** What the socket did with an HTTP/2 connection preface. */
export type HandshakeResult =
  /** Answered with a SETTINGS frame: an HTTP/2 server. */
  | "http2"
  /** Answered with something else (an HTTP/1 response, a ttrpc frame, random bytes). */
  | "other"
  /** Closed the connection without answering. */
  | "closed"
  /** Said nothing within the time given. */
  | "silent"
  /** Could not be connected to at all (then the call's own error says why). */
  | "unreachable"

/** The client connection preface and an empty SETTINGS frame (RFC 9113, section 3.4). */
const preface = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
  Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0])
])

const frameHeaderBytes = 9
const settingsFrame = 0x04

/** Connects to `path`, sends the preface and reads the first frame header, within `timeoutMs`. */
export const probeHandshake = (path: string, timeoutMs: number): Promise<HandshakeResult> =>
  new Promise((resolve) => {
    let received = Buffer.alloc(0)
    let connected = false
    let settled = false
    const socket = net.connect(path)
    const finish = (result: HandshakeResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => finish("silent"), timeoutMs)
    socket.on("connect", () => {
      connected = true
      // With a callback: a write to a socket the server closed at once fails there (Deno would
      // otherwise throw EPIPE as uncaught).
      socket.write(preface, () => {})
    })
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (received.length < frameHeaderBytes) return
      // A SETTINGS frame on stream 0 first, or it is not an HTTP/2 server.
      const isSettings = received[3] === settingsFrame && (received.readUInt32BE(5) & 0x7fffffff) === 0
      finish(isSettings ? "http2" : "other")
    })
    socket.on("error", (error: Error & { readonly code?: string }) => {
      // A reset or a broken pipe means a server accepted and closed (Bun may report it before
      // "connect"); anything else before "connect" (ENOENT, ECONNREFUSED, EACCES) is no server.
      const accepted = connected || error.code === "ECONNRESET" || error.code === "EPIPE"
      finish(accepted ? (received.length > 0 ? "other" : "closed") : "unreachable")
    })
    socket.on("close", () => finish(connected ? (received.length > 0 ? "other" : "closed") : "unreachable"))
  })
