/**
 * Containers whose state the engine cannot tell (`survey`'s undetermined, e.g. a stalled shim):
 * the Watcher keeps their last known state across a resync and checks again until they are known.
 */
import { assert, it } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { EngineClient, Portfolio, Watcher } from "../../src/index.ts"
import { FakeEngine } from "../../src/testing/index.ts"
import { eventually } from "../eventually.ts"

/** The fake engine, where the IDs in `undetermined` are left out of lists and reported by `survey` (as containerd does). */
const surveyingEngine = (fake: FakeEngine.FakeEngine, undetermined: Set<string>) => {
  const list = Effect.map(fake.engine.list, (alive) => alive.filter((container) => !undetermined.has(container.id)))
  return Layer.succeed(EngineClient.EngineClient, {
    ...fake.engine,
    list,
    survey: Effect.map(list, (alive) => ({ alive, undetermined: [...undetermined] }))
  })
}

/** Waits for `condition` against a deadline of real time (the retry after a disconnect takes ~250 ms). */
const until = (condition: () => boolean) => eventually(condition, condition.toString())

it.live("an undetermined container keeps its last known state across a resync; nothing is announced", () => {
  const fake = FakeEngine.make()
  const undetermined = new Set<string>()
  const web = fake.add({ id: "web", paused: true })
  return Effect.gen(function*() {
    const watcher = yield* Effect.map(
      Layer.build(Watcher.layer({ recheckUndetermined: "10 millis" }).pipe(Layer.provide(surveyingEngine(fake, undetermined)))),
      (context) => Context.get(context, Watcher.Watcher)
    )
    yield* watcher.ready
    const announced: Array<string> = []
    yield* watcher.events.pipe(
      Stream.runForEach((event) => Effect.sync(() => announced.push(`${event._tag} ${event.container.id}`))),
      Effect.forkScoped
    )
    undetermined.add("web")
    const lists = fake.calls.list
    fake.disconnect()
    // resynced with web undetermined, then re-checked at least once more
    yield* until(() => fake.calls.list >= lists + 2)
    assert.deepStrictEqual(Portfolio.get(yield* watcher.portfolio.get, "web"), web)
    undetermined.delete("web")
    fake.resume("web")
    // known again: the re-check's resync announces only the difference
    yield* until(() => announced.length > 0)
    assert.deepStrictEqual(announced, ["Unpaused web"])
  }).pipe(Effect.scoped)
})
