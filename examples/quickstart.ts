/**
 * The README's quick start, verbatim but for import paths (deno check and tsc keep it compiling):
 * waits up to 30 s for the first sync, printing why while it retries, then prints the portfolio
 * and every change; exits 1 when the Watcher stops or never gets ready, 0 on Ctrl-C.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/quickstart.ts
 */
import { Console, Effect, Layer, Stream } from "effect"
import { ContainerdEngine } from "../src/containerd/index.ts"
import { Main, Portfolio, Watcher } from "../src/index.ts"

const program = Effect.gen(function*() {
  const watcher = yield* Watcher.Watcher
  // What the watcher is doing, while you wait: Syncing, Retrying (with the error), Live, Stopped.
  yield* watcher.status.changes.pipe(
    Stream.runForEach((status) =>
      status._tag === "Retrying" ? Console.error(`not yet in sync: ${status.error.message}`) : Effect.void
    ),
    Effect.forkScoped
  )
  yield* watcher.ready.pipe(Effect.timeout("30 seconds")) // the first sync, or give up
  const { portfolio, events } = yield* watcher.subscribe
  for (const container of Portfolio.containers(portfolio)) {
    yield* Console.log(container.id, container.name, container.project, container.pid, container.paused)
  }
  // every change after that portfolio, without a gap or an overlap, until interrupted
  yield* events.pipe(Stream.runForEach((event) => Console.log(event._tag, event.container.name)))
  // the events end only when the Watcher stopped (its retry schedule gave up): fail, exit 1
  return yield* Effect.fail(new Error("the watcher stopped"))
}).pipe(Effect.scoped)

// CONTAINERD_ADDRESS, else /run/containerd/containerd.sock
const WatcherLive = Watcher.layer().pipe(Layer.provide(ContainerdEngine.layerConfig()))

// effect's main runner: Ctrl-C or SIGTERM closes every scope and exits 0; a failure exits 1
Main.runMain(program.pipe(Effect.provide(WatcherLive)))
