/**
 * The services effect's CLI module needs (`Command.Environment`), made from this process's
 * `node:process` streams. `node:process` is what Node, Deno and Bun all provide, so one
 * implementation serves the three runtimes and no platform package is needed. The command reads
 * no files and starts no processes: those two services are placeholders.
 *
 * @since 0.1.0
 */
import process from "node:process"
import type { Writable } from "node:stream"
import { type Cause, Effect, FileSystem, Layer, Path, Queue, Sink, Stdio, Stream, Terminal } from "effect"
import type { Command } from "effect/cli"
import { ChildProcessSpawner } from "effect/process"

const writeTo = (stream: Writable) => (chunk: string | Uint8Array): Effect.Effect<void> =>
  Effect.sync(() => {
    stream.write(chunk)
  })

const currentSize = (): Terminal.Size => ({
  columns: process.stdout.columns ?? 80,
  rows: process.stdout.rows ?? 24
})

const terminal: Terminal.Terminal = Terminal.make({
  columns: Effect.sync(() => currentSize().columns),
  rows: Effect.sync(() => currentSize().rows),
  size: Effect.gen(function*() {
    const sizes = yield* Queue.sliding<Terminal.Size, Cause.Done>(1)
    Queue.offerUnsafe(sizes, currentSize())
    const onResize = () => {
      Queue.offerUnsafe(sizes, currentSize())
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => process.stdout.on("resize", onResize)),
      () => Effect.sync(() => process.stdout.off("resize", onResize))
    )
    return sizes
  }),
  readInput: Effect.die("whalewatcher reads no keyboard input"),
  readLine: Effect.die("whalewatcher reads no keyboard input"),
  display: writeTo(process.stdout)
})

/**
 * The CLI environment of this process, with the given command-line arguments.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (args: ReadonlyArray<string>): Layer.Layer<Command.Environment> =>
  Layer.mergeAll(
    Layer.succeed(
      Stdio.Stdio,
      Stdio.make({
        args: Effect.succeed(args),
        stdinIsTerminal: Effect.sync(() => process.stdin.isTTY === true),
        stdoutIsTerminal: Effect.sync(() => process.stdout.isTTY === true),
        stderrIsTerminal: Effect.sync(() => process.stderr.isTTY === true),
        stdout: () => Sink.forEach(writeTo(process.stdout)),
        stderr: () => Sink.forEach(writeTo(process.stderr)),
        stdin: Stream.empty
      })
    ),
    Layer.succeed(Terminal.Terminal, terminal),
    FileSystem.layerNoop({}),
    Path.layer,
    Layer.succeed(
      ChildProcessSpawner.ChildProcessSpawner,
      ChildProcessSpawner.make(() => Effect.die("whalewatcher starts no processes"))
    )
  )
