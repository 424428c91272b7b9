/**
 * Core throughput and memory, without a container engine: the Watcher over the FakeEngine (an
 * in-memory EngineClient), and the pure Portfolio functions as the floor.
 *
 * Run with `node --expose-gc --import tsx bench/core.ts [--quick]` (bench/run.ts does): heap
 * figures need `global.gc` to mean anything. Prints one JSON line on stdout.
 *
 * Containers have display IDs like containerd's (`namespace/<64 hex digits>`, 8 namespaces): key
 * length matters to hash maps.
 *
 * Throughput: a Watcher holds a 10,000-container portfolio; the fake emits a stream of
 * engine events (pause, resume, ...) in chunks of 100 per macrotask — the way a socket delivers
 * them, not all at once — and the clock stops when every subscriber has received the last
 * resulting WatcherEvent (with no subscriber: when the portfolio shows the last change).
 * Subscribers get an event capacity as large as the run, so a subscriber that falls behind for a
 * moment is measured, not dropped.
 */
import { createHash } from "node:crypto"
import process from "node:process"
import { parseArgs } from "node:util"
import { Console, Context, DateTime, Deferred, Effect, Fiber, Layer, Stream } from "effect"
import type { Container } from "../src/Container.ts"
import type { ContainerEvent } from "../src/ContainerEvent.ts"
import * as Main from "../src/Main.ts"
import * as Portfolio from "../src/Portfolio.ts"
import * as FakeEngine from "../src/testing/FakeEngine.ts"
import * as Watcher from "../src/Watcher.ts"
import { summarize, type Summary } from "./lib/stats.ts"

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    // `--case "pause/resume, 1"` runs that throughput case alone (e.g. under --cpu-prof).
    case: { type: "string" }
  }
})
const quick = flags.quick
const portfolioSize = 10_000
const eventsPerRun = quick ? 20_000 : 200_000
const runs = quick ? 1 : 5
const chunk = 100
const namespaces = Array.from({ length: 8 }, (_, i) => `bench-${i}`)

const gc = (globalThis as { gc?: () => void }).gc

/** A 64-hex-digit id like the ones nerdctl and docker make. */
const hexId = (i: number): string => createHash("sha256").update(`container-${i}`).digest("hex")

/** Container `i` of a portfolio of the size measured here, in one of the namespaces by turn. */
const containerAt = (i: number, labels: Record<string, string>, pid: number): Container => {
  const namespace = namespaces[i % namespaces.length]!
  return {
    id: `${namespace}/${hexId(i)}`,
    name: `${namespace}/svc-${i}`,
    labels,
    pid,
    project: `proj-${i % 25}`,
    paused: false,
    namespace
  }
}

const labelsOf = (i: number): Record<string, string> => ({
  "nerdctl/name": `svc-${i}`,
  "com.docker.compose.project": `proj-${i % 25}`,
  "bench.index": String(i)
})

// -------------------------------------------------------------------------------------------------
// Throughput through the Watcher
// -------------------------------------------------------------------------------------------------

type Workload = "pause/resume" | "mixed"

/**
 * `count` engine events over the fake's containers. pause/resume: each container paused, then
 * resumed. mixed: pause, resume, a label update, and an exit followed by a new start (which the
 * Watcher completes with the engine's resolveStarted), in equal parts.
 */
const makeEvents = (ids: ReadonlyArray<string>, count: number, workload: Workload, pids: Map<string, number>) => {
  const timestamp = DateTime.nowUnsafe()
  const events: Array<ContainerEvent> = []
  for (let i = 0; events.length < count; i++) {
    const id = ids[i % ids.length]!
    const namespace = id.slice(0, id.indexOf("/"))
    const round = Math.floor(i / ids.length)
    if (workload === "pause/resume") {
      events.push({ _tag: round % 2 === 0 ? "Paused" : "Unpaused", id, namespace, timestamp })
      continue
    }
    switch (round % 4) {
      case 0:
        events.push({ _tag: "Paused", id, namespace, timestamp })
        break
      case 1:
        events.push({ _tag: "Unpaused", id, namespace, timestamp })
        break
      case 2: {
        const labels: Record<string, string> = { ...labelsOf(i % ids.length), "bench.round": String(round) }
        events.push({
          _tag: "Updated",
          id,
          namespace,
          timestamp,
          labels,
          name: `${namespace}/${labels["nerdctl/name"]!}`,
          project: labels["com.docker.compose.project"]!
        })
        break
      }
      default: {
        const pid = pids.get(id)!
        const next = pid + 100_000
        pids.set(id, next)
        events.push({ _tag: "Exited", id, namespace, timestamp, pid, exitStatus: 0 })
        events.push({ _tag: "Started", id, namespace, timestamp, pid: next })
      }
    }
  }
  return events.slice(0, count)
}

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve))

const throughput = (subscribers: number, workload: Workload) =>
  Effect.scoped(Effect.gen(function*() {
    const fake = FakeEngine.make()
    const ids: Array<string> = []
    const pids = new Map<string, number>()
    for (let i = 0; i < portfolioSize; i++) {
      const namespace = namespaces[i % namespaces.length]!
      const container = fake.add({ id: `${namespace}/${hexId(i)}`, namespace, labels: labelsOf(i) })
      ids.push(container.id)
      pids.set(container.id, container.pid)
    }
    const context = yield* Layer.build(
      // The engine events below are emitted as they are, without changing the fake's state, so the
      // Watcher must trust them (its checks would find nothing changed). What the checks cost is
      // measured against a real containerd in bench/events.ts (RPCs per event).
      Watcher.layer({ eventCapacity: eventsPerRun * 2, trustEvents: true }).pipe(Layer.provide(FakeEngine.layer(fake)))
    )
    const watcher = Context.get(context, Watcher.Watcher)
    yield* watcher.ready

    const rates: Array<number> = []
    for (let run = 0; run < runs + 1; run++) {
      // The fake records every event it sends; a real engine does not, and a history of a million
      // events would make every garbage collection in this process slower. Empty it per run.
      fake.history.length = 0
      const events = makeEvents(ids, eventsPerRun, workload, pids)
      // The WatcherEvents these engine events produce: one each, except a start after an exit.
      const expected = events.length
      const done = yield* Effect.forEach(Array.from({ length: subscribers }), () =>
        Effect.gen(function*() {
          const finished = yield* Deferred.make<void>()
          const subscription = yield* watcher.subscribe
          let seen = 0
          yield* subscription.events.pipe(
            Stream.runForEachArray((batch) =>
              Effect.sync(() => {
                seen += batch.length
                if (seen >= expected) Deferred.doneUnsafe(finished, Effect.void)
              })
            ),
            Effect.forkScoped
          )
          return finished
        }))
      const last = events[events.length - 1]!
      const start = performance.now()
      const producer = yield* Effect.promise(async () => {
        for (let i = 0; i < events.length; i += chunk) {
          for (let k = i; k < Math.min(i + chunk, events.length); k++) fake.emit(events[k]!)
          await macrotask()
        }
      }).pipe(Effect.forkScoped)
      if (subscribers === 0) {
        // No subscriber to tell us: poll the portfolio (every millisecond) for the last change.
        const applied = (portfolio: Portfolio.Portfolio) => {
          const container = Portfolio.get(portfolio, last.id)
          return container !== undefined &&
            (last._tag === "Paused" ? container.paused : last._tag === "Unpaused" ? !container.paused : true) &&
            (last._tag !== "Started" || container.pid === last.pid)
        }
        yield* Fiber.join(producer)
        while (!applied(yield* watcher.portfolio.get)) yield* Effect.sleep("1 millis")
      } else {
        yield* Effect.forEach(done, Deferred.await, { discard: true })
      }
      const seconds = (performance.now() - start) / 1000
      yield* Fiber.join(producer)
      // The first run warms the JIT up and is not reported.
      if (run > 0) rates.push(expected / seconds)
    }
    return summarize(rates)
  }))

/** The floor: Portfolio.applyEvent in a plain loop, no Effect, no queues, no subscribers. */
const pureFloor = (): Summary => {
  const containers = Array.from({ length: portfolioSize }, (_, i) => containerAt(i, labelsOf(i), 1000 + i))
  let portfolio = Portfolio.fromContainers(containers)
  const rates: Array<number> = []
  for (let run = 0; run < runs + 1; run++) {
    const events = makeEvents(containers.map((c) => c.id), eventsPerRun, "pause/resume", new Map())
    const start = performance.now()
    for (const event of events) {
      if (event._tag !== "Started") portfolio = Portfolio.applyEvent(portfolio, event).portfolio
    }
    const seconds = (performance.now() - start) / 1000
    if (run > 0) rates.push(events.length / seconds)
  }
  return summarize(rates)
}

// -------------------------------------------------------------------------------------------------
// Heap per container
// -------------------------------------------------------------------------------------------------

const settledHeap = (): number => {
  for (let i = 0; i < 3; i++) gc!()
  return process.memoryUsage().heapUsed
}

/**
 * Heap per container of a 10,000-container portfolio, with labels kept apart: the containers
 * share one empty labels object, and the labels engines usually set (3 per container: name,
 * project, one more) are measured on their own.
 */
const heapPerContainer = () => {
  if (gc === undefined) return undefined
  const noLabels = Object.freeze({})
  const n = portfolioSize
  const base = settledHeap()
  const containers = Array.from({ length: n }, (_, i) => containerAt(i, noLabels, 10_000 + i))
  const withContainers = settledHeap()
  const portfolio = Portfolio.fromContainers(containers)
  const withPortfolio = settledHeap()
  const labels = Array.from({ length: n }, (_, i) => labelsOf(i))
  const withLabels = settledHeap()
  // Keep everything reachable until the last measurement.
  if (Portfolio.size(portfolio) !== n || labels.length !== n) throw new Error("portfolio incomplete")
  return {
    containers: n,
    containerBytes: (withContainers - base) / n,
    indexBytes: (withPortfolio - withContainers) / n,
    totalBytes: (withPortfolio - base) / n,
    labelBytes: (withLabels - withPortfolio) / n,
    labelsPerContainer: 3
  }
}

const cases: ReadonlyArray<readonly [Workload, number]> = [
  ["pause/resume", 0],
  ["pause/resume", 1],
  ["pause/resume", 10],
  ["mixed", 1]
]

const only = flags.case

const main = Effect.gen(function*() {
  const heap = only === undefined ? heapPerContainer() : undefined
  const floor = only === undefined ? pureFloor() : undefined
  const watcher: Record<string, Summary> = {}
  for (const [workload, subscribers] of cases) {
    const name = `${workload}, ${subscribers}`
    if (only === undefined || only === name) watcher[name] = yield* throughput(subscribers, workload)
  }
  return { portfolioSize, eventsPerRun, runs, chunk, floor, watcher, heap }
})

Main.runMain(Effect.flatMap(main, (result) => Console.log(JSON.stringify(result))))
