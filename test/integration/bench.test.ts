/**
 * The benchmarks must not rot: `npm run bench -- --quick` runs every benchmark script end to end
 * (a private containerd, the Watcher, the fake engine, the transport script under Node, Deno and
 * Bun, a private dockerd and Podman) with tiny sizes. Only that it completes and prints its table
 * is checked — never timings.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { runProcess } from "../../src/testing/internal/process.ts"

const root = path.resolve(import.meta.dirname, "../..")

const runQuickBench = () =>
  Effect.runPromise(
    runProcess("bench", process.execPath, ["--import", "tsx", path.join(root, "bench", "run.ts"), "--quick"], {
      cwd: root,
      env: { NO_COLOR: "1" }
    })
  )

// The bench starts Deno and Bun itself; under those runtimes this file would only repeat it.
const underNode = !("Deno" in globalThis) && !("Bun" in globalThis)

describe.skipIf(!underNode)("npm run bench -- --quick", () => {
  it("runs every benchmark, prints the table, and leaves no sandbox behind", async () => {
    const { exitCode, stdout, stderr } = await runQuickBench()
    expect(exitCode, stderr.slice(-4000)).toBe(0)
    expect(stdout).toContain("| measurement | result | baseline | ratio | target | verdict |")
    for (
      const title of [
        "### 1. Initial sync",
        "### 2. Per-event cost",
        "### 3. Core throughput and memory",
        "### 4. Transport",
        "### 5. Docker Engine API"
      ]
    ) expect(stdout).toContain(title)
    expect(stdout).toMatch(/\| N=\d+ Watcher ready \|/)
    expect(stdout).toMatch(/\| RPCs per start event, isolated \|/)
    expect(stdout).toMatch(/\| node v\S+, connect: unary, ms per call \|/)
    expect(stdout).toMatch(/\| N=\d+ requests of a Watcher sync \| \d+: list \d+ \+ subscription 2 /)
    expect(stdout).toMatch(/\| requests per start event, isolated \| 1\.00 /)
    expect(stdout).toMatch(/\| Podman: requests per start event \(\d+ starts\) \|/)
    expect(stdout).not.toContain("FAILED:")
    for (
      const started of [
        /containerd sandbox started in [\d.]+ s \((\/\S+)\)/,
        /docker sandbox started in [\d.]+ s \((\/\S+)\)/,
        /`podman system service` \(sandbox started in [\d.]+ s, (\/\S+)\)/
      ]
    ) {
      const directory = stdout.match(started)?.[1]
      expect(directory, String(started)).toBeDefined()
      await expect(fs.stat(directory!)).rejects.toThrow()
    }
  }, 240_000)
})
