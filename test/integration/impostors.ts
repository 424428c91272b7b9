/**
 * Things at a socket path that are not containerd's API: servers that accept and close, accept
 * and never answer, answer with random bytes or with HTTP/1.1, and a regular file. Each lives in a
 * scope (its server closed and its directory removed at the end).
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"

/** How an impostor treats a connection. */
export type Impostor = "accept-and-close" | "never-answer" | "random-bytes" | "http1" | "regular-file"

export const impostors: ReadonlyArray<Impostor> = ["accept-and-close", "never-answer", "random-bytes", "http1", "regular-file"]

const behave = (kind: Impostor, socket: net.Socket): void => {
  socket.on("error", () => {})
  switch (kind) {
    case "accept-and-close":
      socket.destroy()
      return
    case "never-answer":
      // Reads and forgets whatever comes; never writes.
      socket.on("data", () => {})
      return
    case "random-bytes":
      // Reads too, or it would never notice the client's close (and hold the connection open).
      socket.resume()
      socket.write(crypto.randomBytes(4096))
      return
    case "http1":
      socket.once("data", () => {
        socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
      })
      return
    case "regular-file":
      return
  }
}

/** Serves `kind` at a fresh path (a regular file for "regular-file") and returns the path. */
export const impostor = (kind: Impostor): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function*() {
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "wws-impostor-"))),
      (directory) => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true }))
    )
    const socketPath = path.join(directory, `${kind}.sock`)
    if (kind === "regular-file") {
      fs.writeFileSync(socketPath, "not a socket\n")
      return socketPath
    }
    const sockets = new Set<net.Socket>()
    yield* Effect.acquireRelease(
      Effect.callback<net.Server>((resume) => {
        const server = net.createServer((socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          behave(kind, socket)
        })
        server.listen(socketPath, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return socketPath
  })

/** The number of file descriptors this process has open (Linux). */
export const openFileDescriptors = (): number => fs.readdirSync("/proc/self/fd").length
