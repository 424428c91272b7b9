/**
 * Counting connections to a unix socket from /proc/net/unix, for tests that prove a scope closed
 * its session.
 */
import { Effect } from "effect"
import { readUnixSockets } from "../../src/internal/procfs.ts"
import { eventually } from "../eventually.ts"

/** Connections to `socketPath` other than the listener (both ends of a connection show the path). */
export const openConnections = (socketPath: string): Effect.Effect<number> =>
  Effect.promise(async () =>
    (await readUnixSockets()).filter((socket) => socket.path === socketPath && !socket.listening).length
  )

/**
 * The connection count once it has not changed for 200 ms (up to 3 s): Deno and Bun close a
 * session a moment after its scope closed, so an earlier test's connection may still be going.
 */
export const settledConnections = (socketPath: string): Effect.Effect<number> =>
  Effect.gen(function*() {
    let last = yield* openConnections(socketPath)
    for (let stable = 0, rounds = 0; stable < 4 && rounds < 60; rounds++) {
      yield* Effect.sleep("50 millis")
      const now = yield* openConnections(socketPath)
      stable = now === last ? stable + 1 : 0
      last = now
    }
    return last
  })

/** Waits until `count` connections to `socketPath` are open (see {@link settledConnections} on Deno and Bun). */
export const awaitConnections = (socketPath: string, count: number): Effect.Effect<void> => {
  let open = -1
  return eventually(
    Effect.map(openConnections(socketPath), (now) => (open = now) === count),
    () => `${count} connections to ${socketPath}; ${open} are open`
  )
}
