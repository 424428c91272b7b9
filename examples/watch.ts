/**
 * Watches an engine (containerd; Docker with `--engine docker`, Podman with `--engine podman`):
 * prints the live portfolio grouped by compose project and each change.
 * With `--json`: one JSON object per line — {"type":"ready","containers":N} once after the first
 * sync, then {"type":"started"|"exited"|"paused"|"unpaused"|"updated", "id", "name", "project",
 * "pid", "paused"} per change. Exits 0 on SIGINT/SIGTERM after closing everything.
 *
 *   CONTAINERD_ADDRESS=/run/containerd/containerd.sock node --import tsx examples/watch.ts [--json]
 *   DOCKER_HOST=unix:///var/run/docker.sock npx bun examples/watch.ts --engine docker --json
 */
import { Effect, Layer } from "effect"
import { Watcher } from "../src/index.ts"
import { engineLayer, exampleFlags, runExample } from "./support.ts"
import { watchView } from "./watchView.ts"

const flags = exampleFlags()
const watcher = Watcher.layer().pipe(Layer.provide(engineLayer(flags)))

runExample(watchView({ json: flags.json }).pipe(Effect.provide(watcher)))
