/**
 * Shared plumbing of the example scripts: their command-line flags, the engine they select, and
 * a runner that works the same on Node, Deno and Bun (exit code 1 with the error's message on
 * failure, clean exit on SIGINT/SIGTERM).
 */
import process from "node:process"
import { parseArgs } from "node:util"
import type { Config, Effect, Layer } from "effect"
import { ContainerdEngine } from "../src/containerd/index.ts"
import { DockerEngine } from "../src/docker/index.ts"
import type { EngineClient } from "../src/index.ts"
import { Main } from "../src/index.ts"

/** The engines an example can watch. */
export type EngineKind = "containerd" | "docker" | "podman"

/** The flags every example understands (each uses those it needs). */
export interface ExampleFlags {
  /** `--engine containerd|docker|podman` (default containerd). */
  readonly engine: EngineKind
  /** `--address PATH`: the engine's socket; else its environment variable, else its default. */
  readonly address: string | undefined
  /** `--json`: machine-readable output. */
  readonly json: boolean
  /** `--forever` (demo): keep watching after the scene. */
  readonly forever: boolean
}

/**
 * The flags of this process (`node:util`'s parseArgs runs in Node, Deno and Bun). An unknown
 * `--engine` is reported and exits 2.
 */
export const exampleFlags = (args: ReadonlyArray<string> = process.argv.slice(2)): ExampleFlags => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      engine: { type: "string", default: "containerd" },
      address: { type: "string" },
      json: { type: "boolean", default: false },
      forever: { type: "boolean", default: false }
    },
    strict: false,
    allowPositionals: true
  })
  const engine = String(values.engine)
  if (engine !== "containerd" && engine !== "docker" && engine !== "podman") {
    console.error(`--engine ${engine}: expected containerd, docker or podman`)
    process.exit(2)
  }
  return {
    engine,
    address: typeof values.address === "string" ? values.address : undefined,
    json: values.json === true,
    forever: values.forever === true
  }
}

/**
 * The EngineClient of the selected engine: containerd (`CONTAINERD_ADDRESS`), Docker
 * (`DOCKER_HOST`) or Podman (`CONTAINER_HOST`) when no address is given.
 */
export const engineLayer = (
  flags: Pick<ExampleFlags, "engine" | "address">
): Layer.Layer<EngineClient.EngineClient, Config.ConfigError> =>
  flags.engine === "containerd"
    ? ContainerdEngine.layerConfig({ address: flags.address })
    : DockerEngine.layerConfig({ address: flags.address, flavor: flags.engine })

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
