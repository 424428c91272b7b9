/**
 * Prints an engine's lifecycle events (containerd, Docker or Podman) until interrupted (Ctrl-C / SIGTERM exit 0 after closing the
 * subscription and the connection). With `--json`: one JSON object per line, with type
 * (started|exited|paused|unpaused|updated), id, name when known, project, pid and timestamp.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/events.ts [--json]
 */
import { Console, Effect, Stream } from "effect"
import { ContainerEvent, EngineClient } from "../src/index.ts"
import { engineLayer, exampleFlags, runExample } from "./support.ts"

const flags = exampleFlags()

const program = Effect.gen(function*() {
  const engine = yield* EngineClient.EngineClient
  const json = flags.json
  // Events carry no names or projects of their own (containerd's task events) or only some: remember
  // them from the list, from started containers (one look-up each) and from updates.
  const known = new Map<string, { name: string; project: string; pid: number }>()
  const events = yield* engine.subscribe
  for (const container of yield* engine.list) known.set(container.id, container)
  // Diagnostics go to stderr, so that stdout carries only events (one JSON object per line with --json).
  yield* Console.error(`watching ${engine.api} (${known.size} containers alive); Ctrl-C ends`)

  yield* events.pipe(
    Stream.runForEach(Effect.fnUntraced(function*(event) {
      if (event._tag === "Started") {
        const container = yield* engine.resolveStarted(event).pipe(Effect.option)
        if (container._tag === "Some") known.set(event.id, container.value)
      } else if (event._tag === "Updated") {
        const before = known.get(event.id)
        if (before !== undefined) known.set(event.id, { ...before, name: event.name, project: event.project })
      }
      const container = known.get(event.id)
      const pid = "pid" in event && event.pid !== undefined ? event.pid : container?.pid
      const line = {
        type: ContainerEvent.typeName(event),
        id: event.id,
        // A container that died before its look-up is not known: Docker's events tell name and project.
        ...(container === undefined
          ? { ...(event.name === undefined ? {} : { name: event.name }), ...(event.project === undefined ? {} : { project: event.project }) }
          : { name: container.name, project: container.project }),
        ...(pid === undefined ? {} : { pid }),
        timestamp: ContainerEvent.isoTimestamp(event)
      }
      if (event._tag === "Exited") known.delete(event.id)
      yield* Console.log(
        json
          ? JSON.stringify(line)
          : `${line.timestamp}  ${line.type.padEnd(8)}  ${line.id}${line.name !== undefined && line.name !== line.id ? ` (${line.name})` : ""}${line.pid === undefined ? "" : `  pid ${line.pid}`}`
      )
    }))
  )
}).pipe(Effect.scoped)

runExample(program.pipe(Effect.provide(engineLayer(flags))))
