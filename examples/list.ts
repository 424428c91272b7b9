/**
 * Lists the alive containers of a containerd: a table, or with `--json` a JSON array of
 * {id, name, project, pid, paused, labels} sorted by id.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock npx tsx examples/list.ts [--json]
 *   npx deno run -A examples/list.ts --address /path/to/containerd.sock
 *   npx bun examples/list.ts --json
 */
import { Console, Effect } from "effect"
import { ContainerdEngine } from "../src/containerd/index.ts"
import { EngineClient } from "../src/index.ts"
import { addressFromArgs, hasFlag, runExample, table } from "./support.ts"

const program = Effect.gen(function*() {
  const engine = yield* EngineClient.EngineClient
  const containers = [...(yield* engine.list)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  if (hasFlag("--json")) {
    yield* Console.log(JSON.stringify(containers.map(({ id, labels, name, paused, pid, project }) => ({ id, name, project, pid, paused, labels }))))
    return
  }
  yield* Console.log(
    table(
      ["ID", "NAME", "PROJECT", "PID", "STATE"],
      containers.map((c) => [c.id, c.name, c.project, String(c.pid), c.paused ? "paused" : "running"])
    )
  )
})

runExample(program.pipe(Effect.provide(ContainerdEngine.layerConfig({ address: addressFromArgs() }))))
