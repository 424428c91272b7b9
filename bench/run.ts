/**
 * `npm run bench` — every benchmark in one run, against baselines measured in the same run, on a
 * private containerd the run starts and tears down (ContainerdSandbox). Prints a Markdown report
 * and, in full mode, writes it to bench/RESULTS.md.
 *
 * `npm run bench -- --quick` (or BENCH_QUICK=1): tiny sizes and few rounds, so that CI can run
 * every script end to end in about a minute; its numbers mean nothing and it writes no file
 * unless `--out FILE` is given.
 *
 * Sections: 1 initial sync (bench/sync.ts), 2 per-event cost (bench/events.ts), 3 core throughput
 * and memory with the fake engine (bench/core.ts, in its own `node --expose-gc` process),
 * 4 transports on Node, Deno and Bun (bench/transport.ts, one process per runtime and client),
 * 5 the Docker Engine API on a private dockerd and Podman (bench/docker.ts, its own sandboxes).
 * `--only 1,4` runs some sections only, `--sizes 100,200` other sync sizes (for working on one).
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import process from "node:process"
import { parseArgs } from "node:util"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { Main } from "../src/index.ts"
import { ContainerdSandbox } from "../src/testing/index.ts"
import * as Docker from "./docker.ts"
import { type ProcessOutput, runProcess } from "../src/testing/internal/process.ts"
import * as Events from "./events.ts"
import { bareConnect } from "./lib/clients.ts"
import { availableMemory, bin, describeMachine, type Machine, root } from "./lib/machine.ts"
import { makeScene, type Scene } from "./lib/scene.ts"
import { count, ms, ratio, summarize } from "./lib/stats.ts"
import { renderSection, row, type Section, section, verdict } from "./lib/table.ts"
import * as Sync from "./sync.ts"

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string" },
    sizes: { type: "string" }
  }
})
const quick = flags.quick || process.env["BENCH_QUICK"] === "1"
const only = flags.only?.split(",").map(Number)
const runs = (sectionNumber: number) => only === undefined || only.includes(sectionNumber)
const outFile = flags.out ?? (quick || only !== undefined ? undefined : path.join(root, "bench", "RESULTS.md"))

const sizes = flags.sizes?.split(",").map(Number)
const baseSettings = quick
  ? {
    sync: { sizes: [16], rounds: () => 3, warmupRounds: 1, settleMillis: 200, startConcurrency: 4 },
    events: { isolated: 3, burst: 5, burstConcurrency: 4, idleCalls: 20 },
    transport: { unary: 200, stream: 2_000, runs: 1 },
    docker: {
      sizes: [16],
      rounds: () => 3,
      warmupRounds: 1,
      settleMillis: 200,
      startConcurrency: 8,
      events: { isolated: 3, burst: 4, burstConcurrency: 4, idleCalls: 20 },
      podman: { containers: 3, rounds: 2, starts: 2 }
    }
  }
  : {
    sync: {
      sizes: [100, 500, 1000],
      rounds: (n: number) => n <= 100 ? 61 : n <= 500 ? 31 : 21,
      warmupRounds: 3,
      settleMillis: 3_000,
      startConcurrency: 8
    },
    events: { isolated: 30, burst: 50, burstConcurrency: 8, idleCalls: 200 },
    transport: { unary: 1_000, stream: 50_000, runs: 3 },
    docker: {
      sizes: [100, 500],
      rounds: (n: number) => n <= 100 ? 31 : 21,
      warmupRounds: 2,
      settleMillis: 3_000,
      startConcurrency: 8,
      events: { isolated: 30, burst: 50, burstConcurrency: 8, idleCalls: 200 },
      podman: { containers: 20, rounds: 11, starts: 10 }
    }
  }
// `--sizes 100,200` overrides the sync sizes of sections 1 and 5 (for working on one).
const settings = sizes === undefined
  ? baseSettings
  : { ...baseSettings, sync: { ...baseSettings.sync, sizes }, docker: { ...baseSettings.docker, sizes } }

// -------------------------------------------------------------------------------------------------
// Subprocesses
// -------------------------------------------------------------------------------------------------

/**
 * Runs a command to its end (killed after `timeoutMs`); interrupting the effect kills it. One that
 * cannot start at all ends with 127, its stderr saying why.
 */
const runCommand = (command: ReadonlyArray<string>, timeoutMs: number): Effect.Effect<ProcessOutput> =>
  runProcess("bench", command[0]!, command.slice(1), { cwd: root, env: { NO_COLOR: "1" }, timeoutMillis: timeoutMs }).pipe(
    Effect.catch((error) => Effect.succeed({ exitCode: 127, signal: undefined, stdout: "", stderr: error.message }))
  )

const lastJsonLine = (text: string): any => {
  const line = text.trim().split("\n").reverse().find((l) => l.startsWith("{"))
  return line === undefined ? undefined : JSON.parse(line)
}

const firstLine = (text: string): string => text.trim().split("\n").find((l) => l.trim().length > 0)?.trim().slice(0, 200) ?? ""

// -------------------------------------------------------------------------------------------------
// Section 3: core (its own process, for --expose-gc and a clean heap)
// -------------------------------------------------------------------------------------------------

const coreSection = Effect.gen(function*() {
  const result = section("3. Core throughput and memory (FakeEngine, no container engine, events trusted as they come; events/s: median (min–max))")
  const finished = yield* runCommand(
    [process.execPath, "--expose-gc", "--import", "tsx", path.join(root, "bench", "core.ts"), ...(quick ? ["--quick"] : [])],
    600_000
  )
  const data = lastJsonLine(finished.stdout)
  if (finished.exitCode !== 0 || data === undefined) {
    return yield* Effect.fail(new Error(`bench/core.ts failed (exit ${finished.exitCode}): ${finished.stderr.slice(-2000)}`))
  }
  const rate = (s: { median: number; min: number; max: number }) => `${count(s.median)} (${count(s.min)}–${count(s.max)})`
  result.rows.push(row("floor: Portfolio.applyEvent in a plain loop (pause/resume)", rate(data.floor)))
  for (const [name, summary] of Object.entries<any>(data.watcher)) {
    const [workload, subscribers] = name.split(", ")
    const one = workload === "pause/resume" && subscribers === "1"
    result.rows.push(row(`Watcher, ${workload}, ${subscribers} subscriber(s)`, rate(summary), {
      baseline: workload === "pause/resume" ? "floor" : "",
      ratio: workload === "pause/resume" ? ratio(data.floor.median, summary.median) + " slower" : "",
      target: one ? ">= 200,000 events/s" : "",
      verdict: one ? verdict(summary.median >= 200_000) : ""
    }))
  }
  const heap = data.heap
  if (heap !== undefined) {
    result.rows.push(
      row("heap per container, total without labels", `${heap.totalBytes.toFixed(0)} B`, {
        target: "<= 2 KB",
        verdict: verdict(heap.totalBytes <= 2048)
      }),
      row("  of which the Container values (id, name, project, namespace strings)", `${heap.containerBytes.toFixed(0)} B`),
      row("  of which the portfolio's indexes (by ID, by project, by name)", `${heap.indexBytes.toFixed(0)} B`),
      row(`labels, measured apart (${heap.labelsPerContainer} labels per container)`, `${heap.labelBytes.toFixed(0)} B`)
    )
  }
  result.notes.push(
    `${count(data.portfolioSize)} containers in the portfolio; ${count(data.eventsPerRun)} events per run, ${data.runs} runs after one warm-up run; the fake emits ${data.chunk} events per macrotask.`,
    "Throughput runs from the first emitted event until every subscriber received the last announced event (0 subscribers: until the portfolio shows the last change). Subscribers run with an event capacity larger than the run, so catching up is measured rather than dropped.",
    "mixed = pause, resume, label update, exit followed by a new start (each start is completed through the engine's resolveStarted), in equal parts.",
    "Heap: `global.gc()` three times, then `process.memoryUsage().heapUsed`, before and after building 10,000 containers with 64-hex-digit IDs across 8 namespaces and their portfolio; labels are a shared empty object there and measured on their own."
  )
  return result
})

// -------------------------------------------------------------------------------------------------
// Section 4: transports, under each runtime
// -------------------------------------------------------------------------------------------------

const runtimes: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["node", [process.execPath, "--import", "tsx"]],
  ["deno", [bin("deno"), "run", "-A"]],
  ["bun", [bin("bun")]]
]

const transportSection = (socketPath: string) =>
  Effect.gen(function*() {
    const t = settings.transport
    const result = section(
      `4. Transport: ${count(t.unary)} sequential unary Version calls and a ${count(t.stream)}-message Events.Subscribe stream (real socket)`
    )
    const outcomes: Array<{ runtime: string; client: string; data: any; error?: string }> = []
    const publishRates: Array<number> = []
    for (const [runtime, command] of runtimes) {
      const finished = yield* runCommand([
        ...command,
        path.join(root, "bench", "transport.ts"),
        "--socket",
        socketPath,
        "--clients",
        "connect,grpc-js",
        "--unary",
        String(t.unary),
        "--stream",
        String(t.stream),
        "--runs",
        String(t.runs)
      ], 900_000)
      const data = (() => {
        try {
          return lastJsonLine(finished.stdout)
        } catch {
          return undefined
        }
      })()
      if (typeof data?.publishedPerSecond === "number") publishRates.push(data.publishedPerSecond)
      const label = data?.runtime ?? runtime
      for (const client of ["connect", "grpc-js"]) {
        const result = data?.clients?.[client]
        const error = result === undefined
          ? data?.error ?? `exit ${finished.exitCode}: ${firstLine(finished.stderr) || firstLine(finished.stdout)}`
          : result.error
        outcomes.push(error === undefined ? { runtime: label, client, data: result } : { runtime: label, client, data: result, error })
      }
    }
    const find = (runtime: string, client: string) => outcomes.find((o) => o.runtime === runtime && o.client === client)
    for (const outcome of outcomes) {
      const name = `${outcome.runtime}, ${outcome.client}`
      if (outcome.error !== undefined) {
        result.rows.push(row(`${name}`, `failed: ${outcome.error}`))
        continue
      }
      const unary = summarize(outcome.data.unary.perCallMs)
      const stream = summarize(outcome.data.stream.messagesPerSecond)
      const peer = outcome.client === "connect" ? find(outcome.runtime, "grpc-js") : undefined
      const peerOk = peer !== undefined && peer.error === undefined
      const peerUnary = peerOk ? summarize(peer.data.unary.perCallMs) : undefined
      const peerStream = peerOk ? summarize(peer.data.stream.messagesPerSecond) : undefined
      result.rows.push(
        row(`${name}: unary, ms per call`, `${ms(unary.median)} (${ms(unary.min)}–${ms(unary.max)})`, {
          baseline: peerUnary === undefined ? "" : "grpc-js",
          ratio: peerUnary === undefined ? "" : ratio(unary.median, peerUnary.median)
        }),
        row(`${name}: stream, messages/s`, `${count(stream.median)} (${count(stream.min)}–${count(stream.max)})`, {
          baseline: peerStream === undefined ? "" : "grpc-js",
          ratio: peerStream === undefined ? "" : ratio(stream.median, peerStream.median)
        })
      )
    }
    result.notes.push(
      `One process per runtime (\`node --import tsx\`, \`deno run -A\`, \`bun\`) measures both libraries, each on its own warm connection, taking turns (who goes first alternates); unary: ${t.runs === 1 ? "1 round" : `${t.runs} rounds`} of ${count(t.unary)} calls per library after 300 warm-up calls (median per-call time of the rounds, min–max); stream: ${t.runs} drained subscription(s) per library after one warm-up drain, median messages/s (min–max).`,
      `Stream: every subscription (topic filter \`/bench/<random>\`) reads one primer, then stops reading; ${count(t.stream)} events are published with Events.Publish (32 in flight, from a second connection, connect-es) while HTTP/2 flow control holds them in containerd's per-subscriber queue; then the subscriptions are drained one after the other, alternating between the libraries, and only each drain is timed. It measures how fast a client receives, decodes and hands over small messages the server has ready, not how fast containerd accepts publishes (${count(Math.min(...publishRates))}–${count(Math.max(...publishRates))} publishes/s here).`,
      "grpc-js loads our proto/ files with @grpc/proto-loader and connects to `unix://<socket>`; where it fails on a runtime, the row says how.",
      "Ratios compare connect-es with grpc-js on the same runtime: unary, connect-es time over grpc-js time (above 1: connect-es slower); stream, connect-es rate over grpc-js rate (below 1: connect-es slower)."
    )
    return result
  })

// -------------------------------------------------------------------------------------------------
// The report
// -------------------------------------------------------------------------------------------------

const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(" ")

/** Every row that has a target, in one table: the verdicts at a glance. */
const targets = (sections: ReadonlyArray<Section>): Section => {
  const summary = section("Targets")
  for (const s of sections) {
    for (const r of s.rows) {
      if (r.target !== "") summary.rows.push({ ...r, what: `${s.title.split(" ")[0]} ${r.what}` })
    }
  }
  return summary
}

const render = (
  machine: Machine,
  sections: ReadonlyArray<Section>,
  notes: ReadonlyArray<string>
): string =>
  [
    `# Benchmarks${quick ? " (quick mode: tiny sizes, numbers not meaningful)" : ""}`,
    "",
    `Run on ${machine.date} by \`npm run bench${quick ? " -- --quick" : ""}\`. Every ratio compares numbers measured in this same run.`,
    "",
    "| machine | |",
    "|---|---|",
    ...machine.facts.map(([key, value]) => `| ${key} | ${value.replaceAll("|", "\\|")} |`),
    "",
    ...notes.map((note) => `- ${note}`),
    "",
    renderSection(targets(sections)),
    "",
    ...sections.flatMap((s) => [renderSection(s), ""])
  ].join("\n")

const main = Effect.gen(function*() {
  const started = performance.now()
  const sections: Array<Section> = []
  const notes: Array<string> = [`load average (1, 5, 15 min) at start: ${loadAverage()}`]
  const failures: Array<string> = []
  const attempt = (title: string, effect: Effect.Effect<Section, unknown>) =>
    Effect.gen(function*() {
      console.error(`bench: ${title} ...`)
      const loadBefore = os.loadavg()[0]!.toFixed(2)
      const sectionStart = performance.now()
      const exit = yield* Effect.exit(effect)
      if (Exit.isSuccess(exit)) {
        exit.value.notes.push(
          `Section time ${((performance.now() - sectionStart) / 1000).toFixed(0)} s; 1-minute load average ${loadBefore} at its start, ${os.loadavg()[0]!.toFixed(2)} at its end (other work on this machine shows here).`
        )
        sections.push(exit.value)
        console.error(renderSection(exit.value) + "\n")
      } else {
        const message = `${title} failed: ${String(exit.cause).slice(0, 3000)}`
        failures.push(message)
        console.error(message)
      }
    })

  // The core benchmark first, before any container runs: it needs no engine and a quiet machine.
  if (runs(3)) yield* attempt("3. core", coreSection)

  let containerdVersion = "not started"
  let scene: Scene | undefined
  const needsEngine = runs(1) || runs(2) || runs(4)
  if (needsEngine) {
    const memoryBefore = yield* Effect.promise(availableMemory)
    yield* Effect.acquireUseRelease(
      Scope.make(),
      (scope) =>
        Effect.gen(function*() {
          const sandboxStart = performance.now()
          const context = yield* Layer.buildWithScope(ContainerdSandbox.layer(), scope)
          const sandbox = Context.get(context, ContainerdSandbox.ContainerdSandbox)
          notes.push(`containerd sandbox started in ${((performance.now() - sandboxStart) / 1000).toFixed(1)} s (${sandbox.directory})`)
          const version = yield* Effect.promise(async () => {
            const clients = bareConnect(sandbox.socketPath)
            try {
              return await clients.version.version({})
            } finally {
              clients.close()
            }
          })
          containerdVersion = `${version.version} (revision ${version.revision}), private instance, CRI plugin disabled`
          scene = makeScene(sandbox)
          if (runs(4)) yield* attempt("4. transport", transportSection(sandbox.socketPath))
          if (runs(1)) yield* attempt("1. sync", Sync.run(scene, settings.sync))
          if (runs(2)) yield* attempt("2. events", Events.run(scene, settings.events))
        }),
      (scope, exit) =>
        Effect.gen(function*() {
          const teardownStart = performance.now()
          yield* Scope.close(scope, exit)
          const alive = scene === undefined ? 0 : scene.alive + scene.extra
          notes.push(
            `containers started: ${alive}, in ${scene?.setupSeconds.toFixed(1) ?? "0"} s for the sync sizes; ` +
              `memory available before the sandbox ${(memoryBefore / 2 ** 30).toFixed(1)} GiB; ` +
              `teardown (kill and delete every task and container, stop containerd, remove all traces) ${((performance.now() - teardownStart) / 1000).toFixed(1)} s`
          )
        })
    )
  }

  // Docker and Podman last, on their own sandboxes, once containerd's containers are gone.
  const engineFacts: Docker.EngineFacts = new Map()
  if (runs(5)) yield* attempt("5. docker", Docker.run(settings.docker, engineFacts))

  notes.push(`load average at end: ${loadAverage()}; whole run ${((performance.now() - started) / 1000).toFixed(0)} s`)
  const ordered = [...sections].sort((a, b) => a.title.localeCompare(b.title))
  const machine = yield* Effect.promise(() => describeMachine(containerdVersion, [...engineFacts]))
  const report = render(machine, ordered, [...notes, ...failures.map((f) => `FAILED: ${f}`)])
  console.log(report)
  if (outFile !== undefined) {
    yield* Effect.promise(() => fs.writeFile(outFile, report))
    console.error(`bench: written to ${path.relative(root, outFile)}`)
  }
  if (failures.length > 0) return yield* Effect.fail(new Error(`${failures.length} section(s) failed`))
})

Main.runMain(main)
