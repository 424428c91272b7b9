/**
 * What `whalewatcher events` (and examples/events.ts) knows of each event's container: kept in a
 * portfolio by the Portfolio's rules, from the list, from started containers and from relabels.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Stream } from "effect"
import { followEvents, type KnownEvent } from "../../src/cli/EventsCommand.ts"
import { FakeEngine } from "../../src/testing/index.ts"

const timestamp = DateTime.makeUnsafe("2026-01-02T03:04:05.000Z")

/** Each event as `type id: name of its container` (`-` when the container is not known). */
const described = (events: Iterable<KnownEvent>) =>
  Array.from(events, ({ container, event }) => `${event._tag} ${event.id}: ${container?.name ?? "-"}`)

/** Follows the fake's events, drives it once the list is taken, and takes `count` events. */
const follow = (fake: FakeEngine.FakeEngine, count: number, drive: () => void) =>
  Effect.gen(function*() {
    const { alive, events } = yield* followEvents(fake.engine)
    drive()
    return { alive, events: yield* events.pipe(Stream.take(count), Stream.runCollect) }
  }).pipe(Effect.scoped)

describe("followEvents", () => {
  it.effect("names from the list, from a started container's look-up and from a relabel; an exit shows the container it ends", () =>
    Effect.gen(function*() {
      const fake = FakeEngine.make()
      fake.add({ id: "web", labels: { "nerdctl/name": "frontend" } })
      const { alive, events } = yield* follow(fake, 4, () => {
        fake.add({ id: "job", labels: { "nerdctl/name": "batch" } })
        fake.relabel("web", { "nerdctl/name": "storefront" })
        fake.exit("web")
        fake.pause("job")
      })
      assert.strictEqual(alive, 1)
      assert.deepStrictEqual(described(events), [
        "Started job: batch",
        "Updated web: storefront",
        "Exited web: storefront",
        "Paused job: batch"
      ])
      assert.strictEqual(fake.calls.resolveStarted, 1, "one look-up, for the container not listed")
    }))

  it.effect("a start of a listed instance needs no look-up; a late exit of an older instance leaves the current one known", () =>
    Effect.gen(function*() {
      const fake = FakeEngine.make()
      const web = fake.add({ id: "web", labels: { "nerdctl/name": "frontend" } })
      const { events } = yield* follow(fake, 3, () => {
        fake.emit({ _tag: "Started", id: "web", namespace: "default", pid: web.pid, timestamp })
        fake.emit({ _tag: "Exited", id: "web", namespace: "default", pid: web.pid - 1, exitStatus: 0, timestamp })
        fake.emit({ _tag: "Paused", id: "web", namespace: "default", timestamp })
      })
      assert.deepStrictEqual(described(events), ["Started web: frontend", "Exited web: frontend", "Paused web: frontend"])
      assert.strictEqual(fake.calls.resolveStarted, 0)
    }))

  it.effect("a container gone before its look-up stays unknown", () =>
    Effect.gen(function*() {
      const fake = FakeEngine.make()
      const { events } = yield* follow(fake, 2, () => {
        fake.emit({ _tag: "Started", id: "ghost", namespace: "default", pid: 7, timestamp })
        fake.emit({ _tag: "Exited", id: "ghost", namespace: "default", pid: 7, exitStatus: 0, timestamp })
      })
      assert.deepStrictEqual(described(events), ["Started ghost: -", "Exited ghost: -"])
      assert.strictEqual(fake.calls.resolveStarted, 1)
    }))
})
