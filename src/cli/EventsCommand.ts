/**
 * `whalewatcher events`: the engine's lifecycle events as they happen, one line each, until
 * Ctrl-C. Containerd's task events carry neither names nor projects: they are remembered from a
 * list taken once the subscription is live, from started containers and from label updates
 * (Docker's and Podman's events carry them).
 *
 * @since 0.1.0
 */
import { Console, Effect, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import type { Container } from "../Container.ts"
import { EngineClient } from "../EngineClient.ts"
import type { CommandFailed, UsageError } from "./CommandError.ts"
import type { Connector } from "./Connector.ts"
import { engineFacts } from "./EngineKind.ts"
import { eventJson } from "./JsonOutput.ts"
import { outputStyle, withEngine } from "./RootCommand.ts"
import { terminalSafe } from "./Sanitize.ts"
import { type EventFacts, eventLine } from "./TextOutput.ts"

/**
 * The `events` subcommand.
 *
 * @since 0.1.0
 */
export const events: Command.Command<
  "events",
  { readonly json: boolean },
  {},
  UsageError | CommandFailed,
  Connector | Command.CommandContext<"whalewatcher">
> = Command.make(
  "events",
  {
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("one JSON object per line: {type, id, name, project, pid, timestamp}"),
      Flag.withDefault(false)
    )
  },
  ({ json }) =>
    withEngine((selection) =>
      Effect.gen(function*() {
        const engine = yield* EngineClient
        const style = yield* outputStyle
        const known = new Map<string, Container>()
        // Subscribe first: the list then misses nothing the stream does not bring.
        const stream = yield* engine.subscribe
        for (const container of yield* engine.list) known.set(container.id, container)
        // Diagnostics go to stderr: stdout carries only events.
        yield* Console.error(
          `whalewatcher: following events of ${engineFacts[selection.engine].name} at ${terminalSafe(selection.address)} (${known.size === 1 ? "1 container" : `${known.size} containers`} alive); Ctrl-C ends`
        )
        yield* stream.pipe(Stream.runForEach((event) =>
          Effect.gen(function*() {
            if (event._tag === "Started") {
              const started = yield* engine.resolveStarted(event).pipe(Effect.option)
              if (started._tag === "Some") known.set(event.id, started.value)
            } else if (event._tag === "Updated") {
              const before = known.get(event.id)
              if (before !== undefined) {
                known.set(event.id, { ...before, name: event.name, project: event.project, labels: event.labels })
              }
            }
            const document = eventJson(event, known.get(event.id))
            if (event._tag === "Exited") known.delete(event.id)
            if (json) return yield* Console.log(JSON.stringify(document))
            const facts: EventFacts = {
              ...document,
              time: document.timestamp,
              exitStatus: event._tag === "Exited" ? event.exitStatus : undefined
            }
            yield* Console.log(eventLine(facts, style))
          })
        ))
      })
    )
).pipe(
  Command.withShortDescription("lifecycle events as they happen"),
  Command.withDescription(
    "Prints the lifecycle events of containers (started, exited, paused, unpaused, updated) as they happen, until Ctrl-C."
  ),
  Command.withExamples([
    { command: "whalewatcher events" },
    { command: "whalewatcher events --json | jq -c 'select(.type == \"exited\")'", description: "only exits" }
  ])
)
