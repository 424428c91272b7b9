/**
 * The README's "Testing your app" example, verbatim but for import paths: documentation that runs.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Watcher } from "../../src/index.ts"
import { FakeEngine } from "../../src/testing/index.ts"

it.effect("sees a container start", () => {
  const fake = FakeEngine.make()
  fake.add({ id: "web", labels: { "nerdctl/name": "web" } })
  return Effect.gen(function*() {
    const watcher = yield* Watcher.Watcher
    yield* watcher.ready
    const { events } = yield* watcher.subscribe
    fake.add({ id: "api" }) // the engine starts a container
    const [started] = yield* events.pipe(Stream.take(1), Stream.runCollect)
    assert.strictEqual(started!.container.id, "api")
  }).pipe(Effect.scoped, Effect.provide(FakeEngine.watcherLayer(fake)))
})
