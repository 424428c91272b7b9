/**
 * Watches a containerd: prints the live portfolio grouped by compose project and each change.
 * With `--json`: one JSON object per line — {"type":"ready","containers":N} once after the first
 * sync, then {"type":"started"|"exited"|"paused"|"unpaused"|"updated", "id", "name", "project",
 * "pid", "paused"} per change. Exits 0 on SIGINT/SIGTERM after closing everything.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/watch.ts [--json]
 */
import { Effect, Layer } from "effect"
import { ContainerdEngine } from "../src/containerd/index.ts"
import { Watcher } from "../src/index.ts"
import { addressFromArgs, hasFlag, runExample } from "./support.ts"
import { watchView } from "./watchView.ts"

const watcher = Watcher.layer().pipe(Layer.provide(ContainerdEngine.layerConfig({ address: addressFromArgs() })))

runExample(watchView({ json: hasFlag("--json") }).pipe(Effect.provide(watcher)))
