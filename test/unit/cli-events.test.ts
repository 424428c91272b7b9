/**
 * `whalewatcher events` against a fake containerd: lines for people, JSON lines for scripts,
 * names remembered from the list and from started containers, and a lost engine.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { DateTime, Effect } from "effect"
import { eventJson } from "../../src/cli/JsonOutput.ts"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { FakeContainerd } from "../../src/testing/index.ts"
import { fakeConnector, runCli, runCliUntil, waitFor, withoutTimes } from "./cliHarness.ts"

const scene = () => {
  const fake = FakeContainerd.make()
  fake.addContainer({ namespace: "default", id: "web", labels: { "nerdctl/name": "frontend", "com.docker.compose.project": "shop" } })
  fake.startTask({ namespace: "default", id: "web", pid: 101 })
  return fake
}

/** Changes a container's life: a new one starts, the known one pauses, resumes, is renamed and exits. */
const drive = (fake: FakeContainerd.FakeContainerd) => {
  fake.addContainer({ namespace: "lab", id: "job", labels: { "nerdctl/name": "batch" } })
  fake.startTask({ namespace: "lab", id: "job", pid: 300 })
  fake.pauseTask({ namespace: "default", id: "web" })
  fake.resumeTask({ namespace: "default", id: "web" })
  fake.setLabels({ namespace: "default", id: "web", labels: { "nerdctl/name": "storefront", "com.docker.compose.project": "shop" } })
  fake.exitTask({ namespace: "lab", id: "job", exitStatus: 3 })
  fake.exitTask({ namespace: "default", id: "web" })
}

const lineCount = (text: string) => text.split("\n").length - 1

describe("whalewatcher events", () => {
  it.live("one line per event, with the names and projects it knows", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["events"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stderr.includes("Ctrl-C ends"), "the ready notice")
          drive(fake)
          yield* waitFor(captured, (c) => lineCount(c.stdout) === 6, "six events")
        }))
      assert.strictEqual(result.exitCode, undefined, "runs until interrupted")
      expect(result.stderr).toMatchInlineSnapshot(`
        "whalewatcher: following events of containerd at /run/containerd/containerd.sock (1 container alive); Ctrl-C ends
        "
      `)
      expect(withoutTimes(result.stdout)).toMatchInlineSnapshot(`
        "<timestamp>  started   lab/job (lab/batch)  pid 300
        <timestamp>  paused    web (frontend)  pid 101  project shop
        <timestamp>  unpaused  web (frontend)  pid 101  project shop
        <timestamp>  updated   web (storefront)  pid 101  project shop
        <timestamp>  exited    lab/job (lab/batch)  pid 300  exit status 3
        <timestamp>  exited    web (storefront)  pid 101  project shop  exit status 0
        "
      `)
    }))

  it.live("--json: the objects of examples/events.ts, one per line", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["events", "--json"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stderr.includes("Ctrl-C ends"), "the ready notice")
          drive(fake)
          yield* waitFor(captured, (c) => lineCount(c.stdout) === 6, "six events")
        }))
      const lines = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      for (const line of lines) assert.match(String(line["timestamp"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/)
      expect(lines.map(({ timestamp: _, ...rest }) => rest)).toMatchInlineSnapshot(`
        [
          {
            "id": "lab/job",
            "name": "lab/batch",
            "pid": 300,
            "project": "",
            "type": "started",
          },
          {
            "id": "web",
            "name": "frontend",
            "pid": 101,
            "project": "shop",
            "type": "paused",
          },
          {
            "id": "web",
            "name": "frontend",
            "pid": 101,
            "project": "shop",
            "type": "unpaused",
          },
          {
            "id": "web",
            "name": "storefront",
            "pid": 101,
            "project": "shop",
            "type": "updated",
          },
          {
            "id": "lab/job",
            "name": "lab/batch",
            "pid": 300,
            "project": "",
            "type": "exited",
          },
          {
            "id": "web",
            "name": "storefront",
            "pid": 101,
            "project": "shop",
            "type": "exited",
          },
        ]
      `)
    }))

  it.live("--namespace: only that namespace's events", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["events", "--json", "-n", "lab"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stderr.includes("Ctrl-C ends"), "the ready notice")
          drive(fake)
          // A marker after the others: events come in order, so one of another namespace that
          // wrongly showed up would be there before it.
          fake.addContainer({ namespace: "lab", id: "marker" })
          fake.startTask({ namespace: "lab", id: "marker", pid: 301 })
          yield* waitFor(captured, (c) => c.stdout.includes("lab/marker"), "the marker")
        }))
      assert.deepStrictEqual(
        result.stdout.trim().split("\n").map((line) => {
          const event = JSON.parse(line) as { type: string; id: string }
          return `${event.type} ${event.id}`
        }),
        ["started lab/job", "exited lab/job", "started lab/marker"]
      )
      assert.include(result.stderr, "(0 containers alive)")
    }))

  it.live("the engine going away ends the command with exit 3", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["events"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stderr.includes("Ctrl-C ends"), "the ready notice")
          fake.dropSubscriptions()
          yield* Effect.never
        }))
      assert.strictEqual(result.exitCode, ExitCode.EngineUnavailable)
      expect(result.stderr.split("\n").slice(1).join("\n")).toMatchInlineSnapshot(`
        "whalewatcher: containerd at /run/containerd/containerd.sock is unavailable (connection lost)
        "
      `)
    }))

  it.live("an engine that cannot be reached at the start: exit 3 at once", () =>
    Effect.gen(function*() {
      const fake = scene()
      fake.failNext("Events.Subscribe", 14 /* Unavailable */, "shutting down")
      const result = yield* runCli(["events"], fakeConnector(fake))
      assert.strictEqual(result.exitCode, ExitCode.EngineUnavailable)
    }))
})

describe("eventJson", () => {
  const timestamp = DateTime.makeUnsafe("2026-01-02T03:04:05.000Z")
  it("takes the name and project the event tells when the container is not known (Docker's events carry them)", () => {
    assert.deepStrictEqual(
      eventJson({ _tag: "Started", id: "c0ffee", namespace: "", name: "job", project: "batch", pid: 0, timestamp }, undefined),
      { type: "started", id: "c0ffee", name: "job", project: "batch", pid: 0, timestamp: "2026-01-02T03:04:05.000Z" }
    )
    // A known container's own facts win; an event of containerd's tells neither.
    const known = { id: "c0ffee", name: "renamed", project: "", labels: {}, pid: 42, paused: false, namespace: "" }
    assert.deepInclude(eventJson({ _tag: "Paused", id: "c0ffee", namespace: "", name: "job", timestamp }, known), {
      name: "renamed",
      project: "",
      pid: 42
    })
    assert.deepStrictEqual(eventJson({ _tag: "Paused", id: "web", namespace: "default", timestamp }, undefined), {
      type: "paused",
      id: "web",
      timestamp: "2026-01-02T03:04:05.000Z"
    })
  })
})
