/**
 * Lists the alive containers of an engine (containerd, Docker or Podman): a table, or with
 * `--json` a JSON array of {id, name, project, pid, paused, labels} sorted by id.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/list.ts [--json]
 *   npx deno run -A examples/list.ts --address /path/to/containerd.sock
 *   npx bun examples/list.ts --engine docker --json
 */
import { Console, Effect } from "effect"
import { EngineClient } from "../src/index.ts"
import { byId, listJson } from "../src/cli/JsonOutput.ts"
import { terminalSafe } from "../src/cli/Sanitize.ts"
import { engineLayer, exampleFlags, runExample, table } from "./support.ts"

const flags = exampleFlags()

const program = Effect.gen(function*() {
  const engine = yield* EngineClient.EngineClient
  const containers = byId(yield* engine.list)
  if (flags.json) {
    yield* Console.log(JSON.stringify(listJson(containers)))
    return
  }
  yield* Console.log(
    table(
      ["ID", "NAME", "PROJECT", "PID", "STATE"],
      // Names, IDs and projects are chosen by whoever created the container: escaped for the terminal.
      containers.map((c) => [terminalSafe(c.id), terminalSafe(c.name), terminalSafe(c.project), String(c.pid), c.paused ? "paused" : "running"])
    )
  )
})

runExample(program.pipe(Effect.provide(engineLayer(flags))))
