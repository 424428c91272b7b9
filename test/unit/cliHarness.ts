/**
 * Runs the `whalewatcher` command in-process, as a terminal or a pipe would see it: stdout and
 * stderr captured by effect's TestConsole, the engine a fake containerd (or whatever Connector a test gives), the
 * environment variables a test sets and nothing of the real process's.
 */
import { type Cause, ConfigProvider, Console, Effect, Fiber, FileSystem, Layer, Path, Queue, Stdio, Terminal } from "effect"
import { ChildProcessSpawner } from "effect/process"
import { TestConsole } from "effect/testing"
import { ContainerdConnection } from "../../src/containerd/index.ts"
import { run } from "../../src/cli/Cli.ts"
import { Connector, containerdEngine } from "../../src/cli/Connector.ts"
import type { FakeContainerd } from "../../src/testing/index.ts"
import { eventually } from "../eventually.ts"

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

/** What a run printed so far, as text. */
export interface Captured {
  readonly stdout: string
  readonly stderr: string
}

const asText = (lines: ReadonlyArray<unknown>): string => lines.map((line) => `${String(line)}\n`).join("")

/** The text of the lines the command logged (stdout) and errored (stderr) to effect's TestConsole. */
export const printed = (output: TestConsole.TestConsole): Effect.Effect<Captured> =>
  Effect.map(
    Effect.all([output.logLines, output.errorLines]),
    ([stdout, stderr]) => ({ stdout: asText(stdout), stderr: asText(stderr) })
  )

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

/** The command, ready to run with its output going to `output`. */
export const cliProgram = (
  args: ReadonlyArray<string>,
  connector: Layer.Layer<Connector>,
  output: TestConsole.TestConsole,
  options: CliOptions = {}
): Effect.Effect<number> =>
  run(args).pipe(
    Effect.provide(Layer.merge(environment(args, options), connector)),
    Effect.provideService(Console.Console, output),
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: options.env ?? { NO_COLOR: "1" } }))
  )

/** Runs a command that ends by itself. */
export const runCli = (
  args: ReadonlyArray<string>,
  connector: Layer.Layer<Connector>,
  options: CliOptions = {}
): Effect.Effect<CliOutcome> =>
  Effect.gen(function*() {
    const output = yield* TestConsole.make
    const exitCode = yield* cliProgram(args, connector, output, options)
    return { exitCode, ...(yield* printed(output)) }
  })

/**
 * Runs a command that runs until interrupted (events, watch): `drive` gets the command's console
 * and returns once it has done what it wanted (e.g. waited for lines); then the command is
 * interrupted, as Ctrl-C does, unless it ended by itself before.
 */
export const runCliUntil = <E, R>(
  args: ReadonlyArray<string>,
  connector: Layer.Layer<Connector>,
  drive: (output: TestConsole.TestConsole) => Effect.Effect<void, E, R>,
  options: CliOptions = {}
): Effect.Effect<CliOutcome, E, R> =>
  Effect.gen(function*() {
    const output = yield* TestConsole.make
    const fiber = yield* Effect.forkChild(cliProgram(args, connector, output, options))
    yield* Effect.raceFirst(drive(output), Effect.asVoid(Fiber.await(fiber)))
    const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
    return { exitCode: exit._tag === "Success" ? exit.value : undefined, ...(yield* printed(output)) }
  })

/** Waits (on the real clock, up to 5 s) until the output printed so far satisfies `condition`; returns it. */
export const waitFor = (
  output: TestConsole.TestConsole,
  condition: (captured: Captured) => boolean,
  what = "the expected output"
): Effect.Effect<Captured> =>
  Effect.gen(function*() {
    let captured: Captured = { stdout: "", stderr: "" }
    yield* eventually(
      Effect.map(printed(output), (now) => condition(captured = now)),
      () => `${what}; stdout:\n${captured.stdout}\nstderr:\n${captured.stderr}`,
      5_000
    )
    return captured
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
