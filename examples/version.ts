/**
 * Prints the containerd engine's version and its persistent uuid, then exits.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/version.ts
 *   npx deno run -A examples/version.ts --address /path/to/containerd.sock
 *   npx bun examples/version.ts
 */
import { Console, Effect } from "effect"
import { ContainerdConnection } from "../src/containerd/index.ts"
import { addressFromArgs, runExample } from "./support.ts"

const program = Effect.gen(function*() {
  const connection = yield* ContainerdConnection.ContainerdConnection
  const version = yield* connection.call("Version.Version", (clients, options) => clients.version.version({}, options))
  const server = yield* connection.call(
    "Introspection.Server",
    (clients, options) => clients.introspection.server({}, options)
  )
  yield* Console.log(`containerd ${version.version} (revision ${version.revision}) at ${connection.address}`)
  yield* Console.log(`uuid ${server.uuid}`)
})

runExample(program.pipe(Effect.provide(ContainerdConnection.layerConfig({ address: addressFromArgs() }))))
