/**
 * Prints what an engine says of itself — its type, version, API, ID and PID — then exits.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/version.ts
 *   npx deno run -A examples/version.ts --address /path/to/containerd.sock
 *   npx bun examples/version.ts --engine podman
 */
import { Console, Effect } from "effect"
import { EngineClient } from "../src/index.ts"
import { engineLayer, exampleFlags, runExample } from "./support.ts"

const program = Effect.gen(function*() {
  const engine = yield* EngineClient.EngineClient
  const version = yield* engine.version
  const id = yield* engine.id
  const pid = yield* engine.pid
  yield* Console.log(`${engine.type} ${version} (${engine.api})`)
  yield* Console.log(`id ${id}`)
  yield* Console.log(`pid ${pid ?? "unknown"}`)
})

runExample(program.pipe(Effect.provide(engineLayer(exampleFlags()))))
