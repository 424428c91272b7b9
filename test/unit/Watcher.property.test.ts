/**
 * Model-based property test of the Watcher: random interleavings of engine changes, stray and
 * late events, arbitrary delays between a change and its event reaching the Watcher (FakeEngine
 * deliveryDelay, so that a list may show a change before its event arrives), and
 * late events, disconnects, failing calls and changes made while a list is being taken. The
 * model is the fake engine's own truth. After quiescence:
 * - the Watcher's portfolio equals the engine's alive containers;
 * - replaying the announced events onto the portfolio seen at subscription gives that portfolio,
 *   and each of them changes something (nothing is announced twice or for nothing).
 *
 * Runs: PROPERTY_RUNS, else 10,000 when CI=true, else 1,000; PROPERTY_SEED and PROPERTY_PATH replay a failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Exit, Fiber, Layer, Option, Schedule, Stream } from "effect"
import * as fc from "fast-check"
import { Container, type ContainerEvent, Portfolio, Watcher } from "../../src/index.ts"
import { FakeEngine } from "../../src/testing/index.ts"

const runs = Number(process.env["PROPERTY_RUNS"] ?? (process.env["CI"] === "true" ? 10_000 : 1_000))
// PROPERTY_SEED (and PROPERTY_PATH) replay a failure fast-check reported, e.g. from another runtime.
const replay: { seed?: number; path?: string } = {
  ...(process.env["PROPERTY_SEED"] !== undefined ? { seed: Number(process.env["PROPERTY_SEED"]) } : {}),
  ...(process.env["PROPERTY_PATH"] !== undefined ? { path: process.env["PROPERTY_PATH"] } : {})
}

const ids = ["a", "b", "c", "d", "e"] as const
const projects = ["", "shop", "blog"] as const

/** An engine change; applied only when it makes sense in the engine's current state. */
type Change =
  | { readonly op: "add"; readonly id: string; readonly project: string }
  | { readonly op: "exit" | "restart" | "restartSamePid" | "pause" | "resume" | "remove"; readonly id: string }
  | { readonly op: "relabel"; readonly id: string; readonly project: string }
  // events real engines send without a change of state: an older instance's late exit, a
  // repeated pause or resume (never a repeated start: one start per instance)
  | { readonly op: "staleExit" | "repeatPause"; readonly id: string }

/** A step of a scenario. */
type Step =
  | Change
  | { readonly op: "settle"; readonly turns: number }
  | { readonly op: "disconnect" }
  | { readonly op: "fail"; readonly operation: "list" | "subscribe" | "resolveStarted" }
  | { readonly op: "duringNextList"; readonly before: ReadonlyArray<Change>; readonly after: ReadonlyArray<Change> }

const id = fc.constantFrom(...ids)
const project = fc.constantFrom(...projects)
const change: fc.Arbitrary<Change> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("add" as const), id, project }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constantFrom(
        "exit" as const,
        "restart" as const,
        "restartSamePid" as const,
        "pause" as const,
        "resume" as const,
        "remove" as const
      ),
      id
    }),
    weight: 6
  },
  { arbitrary: fc.record({ op: fc.constant("relabel" as const), id, project }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constantFrom("staleExit" as const, "repeatPause" as const), id }), weight: 1 }
)

/**
 * Changes made while a list is taken: fewer IDs and more pauses and restarts, so that the races
 * between a list and the events it reflects (e.g. an older instance's pause) come up often.
 */
const hookChange: fc.Arbitrary<Change> = fc.oneof(
  { arbitrary: change, weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constantFrom("pause" as const, "resume" as const, "restart" as const, "exit" as const),
      id: fc.constantFrom("a", "b")
    }),
    weight: 3
  }
)
const hooks = fc.record({
  before: fc.array(hookChange, { maxLength: 4 }),
  after: fc.array(hookChange, { maxLength: 4 })
})

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: change, weight: 10 },
  { arbitrary: fc.record({ op: fc.constant("settle" as const), turns: fc.integer({ min: 1, max: 8 }) }), weight: 3 },
  { arbitrary: fc.constant({ op: "disconnect" as const }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant("fail" as const),
      operation: fc.constantFrom("list" as const, "subscribe" as const, "resolveStarted" as const)
    }),
    weight: 1
  },
  { arbitrary: hooks.map((h) => ({ op: "duringNextList" as const, ...h })), weight: 2 }
)
const scenario = fc.record({
  // scheduler turns each event spends between the engine and its arrival at the Watcher's queue
  delays: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 16 }),
  initial: fc.array(fc.record({ id, project, paused: fc.boolean() }), { maxLength: 5 }),
  initialList: hooks,
  steps: fc.array(step, { maxLength: 30 })
})
type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never

const labels = (project: string): Record<string, string> =>
  project === "" ? {} : { "com.docker.compose.project": project }

/** Applies a change to the fake if it is possible in its current state. */
const applyChange = (fake: FakeEngine.FakeEngine, change: Change): void => {
  const alive = fake.isAlive(change.id)
  const timestamp = DateTime.nowUnsafe()
  const pidOf = () => fake.containers().find((c) => c.id === change.id)!.pid
  switch (change.op) {
    case "add":
      if (!fake.exists(change.id)) fake.add({ id: change.id, labels: labels(change.project) })
      else if (!alive) fake.start(change.id)
      return
    case "exit":
      if (alive) fake.exit(change.id)
      return
    case "restart":
      if (alive) {
        fake.exit(change.id)
        fake.start(change.id)
      }
      return
    case "restartSamePid":
      if (alive) {
        const pid = pidOf()
        fake.exit(change.id)
        fake.start(change.id, { pid })
      }
      return
    case "pause":
      if (alive && !fake.isPaused(change.id)) fake.pause(change.id)
      return
    case "resume":
      if (fake.isPaused(change.id)) fake.resume(change.id)
      return
    case "remove":
      if (fake.exists(change.id)) fake.remove(change.id)
      return
    case "relabel":
      if (fake.exists(change.id)) fake.relabel(change.id, labels(change.project))
      return
    case "staleExit":
      if (alive) fake.emit({ _tag: "Exited", id: change.id, namespace: "default", timestamp, pid: pidOf() - 1_000 })
      return
    case "repeatPause":
      if (alive) {
        fake.emit({
          _tag: fake.isPaused(change.id) ? "Paused" : "Unpaused",
          id: change.id,
          namespace: "default",
          timestamp
        })
      }
      return
  }
}

const sentinel = "~sentinel"

/** Applies an announced event, checking that it announces a real change of the portfolio. */
const replayChecked = (portfolio: Portfolio.Portfolio, event: Watcher.WatcherEvent): Portfolio.Portfolio => {
  const known = Portfolio.get(portfolio, event.container.id)
  const ok = event._tag === "Started"
    ? known === undefined
    : event._tag === "Exited"
    ? known !== undefined && Container.equals(known, event.container)
    : event._tag === "Updated"
    ? known !== undefined && Container.equals(known, event.previous) && !Container.equals(known, event.container)
    : known !== undefined && known.paused !== event.container.paused &&
      Container.equals(known, { ...event.container, paused: known.paused })
  if (!ok) assert.fail(`announced ${event._tag} ${event.container.id} changes nothing: ${JSON.stringify(known)}`)
  return Portfolio.applyChange(portfolio, event)
}

const runScenario = (input: Scenario) => {
  let delivered = 0
  const fake = FakeEngine.make(
    input.delays.length === 0 ? {} : { deliveryDelay: () => input.delays[delivered++ % input.delays.length]! }
  )
  fake.add({ id: sentinel })
  for (const container of input.initial) {
    if (fake.exists(container.id)) continue
    fake.add({ id: container.id, labels: labels(container.project), paused: container.paused })
  }
  fake.onList({
    before: () => input.initialList.before.forEach((c) => applyChange(fake, c)),
    after: () => input.initialList.after.forEach((c) => applyChange(fake, c))
  })
  return Effect.gen(function*() {
    const watcher = yield* Watcher.Watcher
    yield* watcher.ready
    const subscription = yield* watcher.subscribe
    const isEnd = (event: Watcher.WatcherEvent) =>
      event.container.id === sentinel && event.container.labels["tick"] === "end"
    const collector = yield* subscription.events.pipe(
      Stream.takeUntil(isEnd),
      Stream.runCollect,
      Effect.forkScoped
    )

    for (const s of input.steps) {
      switch (s.op) {
        case "settle":
          for (let i = 0; i < s.turns; i++) yield* Effect.yieldNow
          break
        case "disconnect":
          fake.disconnect()
          break
        case "fail":
          fake.failNext(s.operation)
          break
        case "duringNextList":
          fake.onList({
            before: () => s.before.forEach((c) => applyChange(fake, c)),
            after: () => s.after.forEach((c) => applyChange(fake, c))
          })
          break
        default:
          applyChange(fake, s)
      }
    }

    // Quiescence. No more changes from list hooks; then the sentinel's changes come after all
    // others: once the watcher shows the second one, it has seen everything before (a list
    // showing the first may have been followed by events still in flight).
    fake.clearListHooks()
    for (const tick of ["1", "end"]) {
      fake.relabel(sentinel, { tick })
      yield* watcher.portfolio.changes.pipe(
        Stream.filter((p) => Portfolio.get(p, sentinel)?.labels["tick"] === tick),
        Stream.runHead
      )
    }
    const events = yield* Fiber.join(collector)
    const final = yield* watcher.portfolio.get

    const truth = fake.portfolio()
    if (!Portfolio.equals(final, truth)) {
      assert.fail(
        `portfolio differs from the engine:\n${JSON.stringify(Portfolio.containers(final))}\n` +
          `engine:\n${JSON.stringify(Portfolio.containers(truth))}`
      )
    }
    const replayed = events.reduce(replayChecked, subscription.portfolio)
    if (!Portfolio.equals(replayed, final)) {
      assert.fail(
        `replayed events differ:\n${JSON.stringify(Portfolio.containers(replayed))}\n` +
          `events: ${JSON.stringify(events.map((e) => `${e._tag} ${e.container.id}@${e.container.pid}`))}`
      )
    }
  }).pipe(
    Effect.scoped,
    Effect.provide(
      FakeEngine.watcherLayer(fake, { retry: Schedule.forever, eventCapacity: 1 << 14 }).pipe(Layer.fresh)
    ),
    // a hang is a failure too
    Effect.timeoutOption("10 seconds"),
    Effect.flatMap(Option.match({
      onNone: () => Effect.sync(() => assert.fail("the watcher did not settle")),
      onSome: () => Effect.void
    })),
    Effect.andThen(Effect.sync(() => {
      // nothing left behind once the layer is closed
      assert.strictEqual(fake.openSubscriptions, 0)
    }))
  )
}

/**
 * Found under Deno (seed 1849609780): a restart under the same PID, a relabel, a removal and a
 * new instance, delivered late in one batch. The old instance's start was confirmed as the new
 * live one, so the relabel that followed it in the batch was applied to the new instance.
 */
const lateStartAfterRelabel = {
  delays: [1],
  initial: [{ id: "e" as const, project: "" as const, paused: false }],
  initialList: { before: [], after: [] },
  steps: [
    { op: "restartSamePid" as const, id: "e" as const },
    { op: "relabel" as const, id: "e" as const, project: "" as const },
    { op: "remove" as const, id: "e" as const },
    { op: "add" as const, id: "e" as const, project: "blog" as const }
  ]
}

describe("Watcher (model-based)", () => {
  it(`converges to the engine's truth and announces exactly the changes (${runs} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (input) => {
        const exit = await Effect.runPromiseExit(runScenario(input))
        if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
      }),
      { numRuns: runs, ...replay, examples: [[lateStartAfterRelabel]] }
    )
  }, 600_000)

  it("the pure rules alone: a list plus the events from any earlier subscription gives the truth", () => {
    // The engine's history is recorded, with a snapshot (a "list") after every change. Syncing
    // from a subscription taken at event i and a list taken later (at event j >= i) must end
    // in the engine's final state, whatever i and j.
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), fc.nat(), fc.nat(), (changes, i, j) => {
        const fake = FakeEngine.make()
        const snapshots = [{ at: 0, portfolio: fake.portfolio() }]
        for (const c of changes) {
          applyChange(fake, c)
          snapshots.push({ at: fake.history.length, portfolio: fake.portfolio() })
        }
        const list = snapshots[j % snapshots.length]!
        const subscribedAt = list.at === 0 ? 0 : i % (list.at + 1)
        const buffered = Portfolio.skipReflected(list.portfolio, fake.history.slice(subscribedAt))
        // the engine's look-ups, as the watcher would make them (now: at the end), for every start
        const started = new Map<ContainerEvent.Started, Container.Container | undefined>()
        for (const event of buffered) {
          if (event._tag === "Started") {
            started.set(event, Option.getOrUndefined(Effect.runSync(Effect.option(fake.engine.resolveStarted(event)))))
          }
        }
        const applied = Portfolio.applyEvents(list.portfolio, buffered, { started })
        assert.isUndefined(applied.stoppedAt)
        const portfolio = applied.portfolio
        const truth = fake.portfolio()
        if (!Portfolio.equals(portfolio, truth)) {
          const show = (p: Portfolio.Portfolio) => JSON.stringify(Portfolio.containers(p))
          throw new Error(`got ${show(portfolio)}\nwant ${show(truth)}`)
        }
      }),
      { numRuns: runs * 2 }
    )
  })
})
