/**
 * Shared plumbing of the example scripts: command-line flags and a runner that works the same on
 * Node, Deno and Bun (exit code 1 with the error's message on failure, clean exit on SIGINT/SIGTERM).
 */
import process from "node:process"
import type { Effect } from "effect"
import { Main } from "../src/index.ts"

/** The value of `--address PATH` (or `--address=PATH`), if given. */
export const addressFromArgs = (args: ReadonlyArray<string> = process.argv.slice(2)): string | undefined => {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--address") return args[i + 1]
    if (arg.startsWith("--address=")) return arg.slice("--address=".length)
  }
  return undefined
}

/** True when `--flag` is among the arguments. */
export const hasFlag = (flag: string, args: ReadonlyArray<string> = process.argv.slice(2)): boolean =>
  args.includes(flag)

/**
 * Runs an example program with the library's main runner (effect's `Runtime.makeRunMain`):
 * SIGINT/SIGTERM interrupt it (its scopes close, so connections and streams are released) and the
 * process exits 0; a failure is logged with its message and exits 1.
 */
export const runExample = <E>(program: Effect.Effect<void, E>): void => Main.runMain(program)

/** Formats rows as a left-aligned text table with a header row. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)))
  return [header, ...rows]
    .map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd())
    .join("\n")
}
