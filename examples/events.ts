/**
 * Prints an engine's lifecycle events (containerd, Docker or Podman) until interrupted (Ctrl-C / SIGTERM exit 0 after closing the
 * subscription and the connection), one line each as `whalewatcher events` prints them. With `--json`: one JSON object per
 * line, with type (started|exited|paused|unpaused|updated), id, name when known, project, pid and timestamp.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/events.ts [--json]
 */
import { Console, Effect, Stream } from "effect"
import { EngineClient } from "../src/index.ts"
import { followEvents } from "../src/cli/EventsCommand.ts"
import { eventJson } from "../src/cli/JsonOutput.ts"
import { eventFacts, eventLine } from "../src/cli/TextOutput.ts"
import { engineLayer, exampleFlags, runExample } from "./support.ts"

const flags = exampleFlags()

const program = Effect.gen(function*() {
  const engine = yield* EngineClient.EngineClient
  // Events carry no names or projects of their own (containerd's task events) or only some:
  // followEvents remembers them from the list, from started containers (one look-up each) and
  // from updates.
  const { alive, events } = yield* followEvents(engine)
  // Diagnostics go to stderr, so that stdout carries only events (one JSON object per line with --json).
  yield* Console.error(`watching ${engine.api} (${alive} containers alive); Ctrl-C ends`)
  yield* events.pipe(Stream.runForEach(({ container, event }) =>
    Console.log(flags.json ? JSON.stringify(eventJson(event, container)) : eventLine(eventFacts(event, container)))
  ))
}).pipe(Effect.scoped)

runExample(program.pipe(Effect.provide(engineLayer(flags))))
