/**
 * Runs the `whalewatcher` command in-process, as a terminal or a pipe would see it: stdout and
 * stderr captured, the engine a fake containerd (or whatever Connector a test gives), the
 * environment variables a test sets and nothing of the real process's.
 */
import { type Cause, ConfigProvider, Console, Effect, Fiber, FileSystem, Layer, Path, Queue, Stdio, Terminal } from "effect"
import { ChildProcessSpawner } from "effect/process"
import { ContainerdConnection } from "../../src/containerd/index.ts"
import { run } from "../../src/cli/Cli.ts"
import { Connector, containerdEngine } from "../../src/cli/Connector.ts"
import type { FakeContainerd } from "../../src/testing/index.ts"

/** What a run printed, and its exit code (undefined when it was interrupted, as by Ctrl-C). */
export interface CliOutcome {
  readonly exitCode: number | undefined
  readonly stdout: string
  readonly stderr: string
}

export interface CliOptions {
  /** stdout is a terminal (default false: a pipe). */
  readonly tty?: boolean
  readonly columns?: number
  readonly rows?: number
  /** The environment variables the command sees (default: `NO_COLOR=1` only). */
  readonly env?: Record<string, string>
}

/** A Connector whose engines are served by `fake`, with the namespace filter the flags select. */
export const fakeConnector = (fake: FakeContainerd.FakeContainerd): Layer.Layer<Connector> =>
  Layer.succeed(Connector, {
    engine: (selection) =>
      containerdEngine(
        selection,
        ContainerdConnection.layerTransport(fake.transport, { address: selection.address })
      )
  })

/** Captured output streams. */
export class Captured {
  stdout = ""
  stderr = ""
  readonly console: Console.Console = Object.assign(Object.create(console) as Console.Console, {
    log: (...args: ReadonlyArray<unknown>) => {
      this.stdout += `${args.join(" ")}\n`
    },
    error: (...args: ReadonlyArray<unknown>) => {
      this.stderr += `${args.join(" ")}\n`
    }
  })
}

const environment = (args: ReadonlyArray<string>, options: CliOptions) =>
  Layer.mergeAll(
    FileSystem.layerNoop({}),
    Path.layer,
    Stdio.layerTest({
      args: Effect.succeed(args),
      stdoutIsTerminal: Effect.succeed(options.tty ?? false),
      stderrIsTerminal: Effect.succeed(options.tty ?? false)
    }),
    Layer.succeed(
      Terminal.Terminal,
      Terminal.make({
        columns: Effect.succeed(options.columns ?? 100),
        rows: Effect.succeed(options.rows ?? 40),
        size: Effect.gen(function*() {
          const sizes = yield* Queue.sliding<Terminal.Size, Cause.Done>(1)
          Queue.offerUnsafe(sizes, { columns: options.columns ?? 100, rows: options.rows ?? 40 })
          return sizes
        }),
        readInput: Effect.die("unused"),
        readLine: Effect.die("unused"),
        display: () => Effect.void
      })
    ),
    Layer.succeed(ChildProcessSpawner.ChildProcessSpawner, ChildProcessSpawner.make(() => Effect.die("unused")))
  )

/** The command, ready to run with its output going to `captured`. */
export const cliProgram = (
  args: ReadonlyArray<string>,
  connector: Layer.Layer<Connector>,
  captured: Captured,
  options: CliOptions = {}
): Effect.Effect<number> =>
  run(args).pipe(
    Effect.provide(Layer.merge(environment(args, options), connector)),
    Effect.provideService(Console.Console, captured.console),
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: options.env ?? { NO_COLOR: "1" } }))
  )

/** Runs a command that ends by itself. */
export const runCli = (
  args: ReadonlyArray<string>,
  connector: Layer.Layer<Connector>,
  options: CliOptions = {}
): Effect.Effect<CliOutcome> => {
  const captured = new Captured()
  return Effect.map(cliProgram(args, connector, captured, options), (exitCode) => ({
    exitCode,
    stdout: captured.stdout,
    stderr: captured.stderr
  }))
}

/**
 * Runs a command that runs until interrupted (events, watch): `drive` gets the captured output
 * and returns once it has done what it wanted (e.g. waited for lines); then the command is
 * interrupted, as Ctrl-C does, unless it ended by itself before.
 */
export const runCliUntil = <E, R>(
  args: ReadonlyArray<string>,
  connector: Layer.Layer<Connector>,
  drive: (captured: Captured) => Effect.Effect<void, E, R>,
  options: CliOptions = {}
): Effect.Effect<CliOutcome, E, R> =>
  Effect.gen(function*() {
    const captured = new Captured()
    const fiber = yield* Effect.forkChild(cliProgram(args, connector, captured, options))
    yield* Effect.raceFirst(drive(captured), Effect.asVoid(Fiber.await(fiber)))
    const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
    return {
      exitCode: exit._tag === "Success" ? exit.value : undefined,
      stdout: captured.stdout,
      stderr: captured.stderr
    }
  })

/** Waits (on the real clock) until the captured output satisfies `condition`; fails after 5 s. */
export const waitFor = (
  captured: Captured,
  condition: (captured: Captured) => boolean,
  what = "the expected output"
): Effect.Effect<void, Error> =>
  Effect.gen(function*() {
    const deadline = Date.now() + 5_000
    while (!condition(captured)) {
      if (Date.now() > deadline) {
        return yield* Effect.fail(
          new Error(`timed out waiting for ${what}; stdout:\n${captured.stdout}\nstderr:\n${captured.stderr}`)
        )
      }
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
  })

/** ISO timestamps and clock times replaced by placeholders, for snapshots. */
export const withoutTimes = (text: string): string =>
  text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<timestamp>")
    .replace(/\b\d\d:\d\d:\d\d\b/g, "<hh:mm:ss>")

/** The last frame a `watch` on a terminal drew, without its cursor and clearing sequences. */
export const lastFrame = (stdout: string): string => {
  const frames = stdout.split("\x1b[H").filter((chunk) => !chunk.startsWith("\x1b[2J"))
  return (frames.at(-1) ?? "").replace(/\x1b\[K|\x1b\[J|\x1b\[\?25[hl]/g, "").trimEnd()
}
