/**
 * `whalewatcher events`: the engine's lifecycle events as they happen, one line each, until
 * Ctrl-C. Containerd's task events carry neither names nor projects: {@link followEvents} keeps
 * them in a portfolio, from a list taken once the subscription is live, from started containers
 * and from label updates (Docker's and Podman's events carry them).
 *
 * @since 0.1.0
 */
import { Console, Effect, Option, type Scope, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import type { Container } from "../Container.ts"
import type { ContainerEvent } from "../ContainerEvent.ts"
import { EngineClient, type EngineClientShape } from "../EngineClient.ts"
import type { EngineError } from "../EngineError.ts"
import * as Portfolio from "../Portfolio.ts"
import type { CommandFailed, UsageError } from "./CommandError.ts"
import type { Connector } from "./Connector.ts"
import { engineFacts } from "./EngineKind.ts"
import { eventJson } from "./JsonOutput.ts"
import { outputStyle, withEngine } from "./RootCommand.ts"
import { terminalSafe } from "./Sanitize.ts"
import { eventFacts, eventLine } from "./TextOutput.ts"

/**
 * An engine event and what is known of its container when it happened (for an exit: before it).
 *
 * @category models
 * @since 0.1.0
 */
export interface KnownEvent {
  /** The event as the engine reported it. */
  readonly event: ContainerEvent
  /** The container, when known: listed, looked up when it started, or relabeled since. */
  readonly container: Container | undefined
}

/**
 * One step of {@link followEvents}: the alive containers after the event, by the Portfolio's
 * rules (e.g. the late exit of an older instance changes nothing), and the event with its
 * container. A start of an instance not known yet is looked up once; when the look-up fails (the
 * container is gone already), the container stays unknown.
 */
const follow = (engine: EngineClientShape) =>
(
  known: Portfolio.Portfolio,
  event: ContainerEvent
): Effect.Effect<readonly [Portfolio.Portfolio, ReadonlyArray<KnownEvent>]> =>
  Effect.gen(function*() {
    let next = known
    if (event._tag === "Started") {
      if (!Portfolio.isKnownInstance(known, event.id, event.pid)) {
        const started = yield* engine.resolveStarted(event).pipe(Effect.option)
        if (Option.isSome(started)) next = Portfolio.set(known, started.value)
      }
    } else {
      next = Portfolio.applyEvent(known, event).portfolio
    }
    // An exit is shown with what was known before it; any other event with what is known after it.
    const container = Portfolio.get(event._tag === "Exited" ? known : next, event.id)
    return [next, [{ event, container }]] as const
  })

/**
 * Subscribes to the engine's lifecycle events, then lists the alive containers (subscribing
 * first: the list then misses nothing the stream does not bring), and follows each event with
 * what is known of its container. Succeeds with the number of containers listed and the events;
 * run the stream once.
 *
 * @category constructors
 * @since 0.1.0
 */
export const followEvents = (
  engine: EngineClientShape
): Effect.Effect<
  { readonly alive: number; readonly events: Stream.Stream<KnownEvent, EngineError> },
  EngineError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const stream = yield* engine.subscribe
    const listed = Portfolio.fromContainers(yield* engine.list)
    return { alive: Portfolio.size(listed), events: Stream.mapAccumEffect(stream, () => listed, follow(engine)) }
  })

/**
 * The `events` subcommand.
 *
 * @category commands
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
        const { alive, events } = yield* followEvents(engine)
        // Diagnostics go to stderr: stdout carries only events.
        yield* Console.error(
          `whalewatcher: following events of ${engineFacts[selection.engine].name} at ${terminalSafe(selection.address)} (${alive === 1 ? "1 container" : `${alive} containers`} alive); Ctrl-C ends`
        )
        yield* events.pipe(Stream.runForEach(({ container, event }) =>
          Console.log(json ? JSON.stringify(eventJson(event, container)) : eventLine(eventFacts(event, container), style))
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
