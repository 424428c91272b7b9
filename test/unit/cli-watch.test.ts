/**
 * `whalewatcher watch` on the Watcher over a fake containerd: JSON lines, plain lines, the screen
 * redrawn in place, the engine missing at the start and going away later.
 */
import { Code } from "@connectrpc/connect"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { FakeContainerd } from "../../src/testing/index.ts"
import { fakeConnector, lastFrame, runCli, runCliUntil, waitFor, withoutTimes } from "./cliHarness.ts"
import { shopScene } from "./shopScene.ts"

/** The shop and a container of no project in another namespace. */
const scene = () => {
  const fake = shopScene()
  fake.addContainer({ namespace: "lab", id: "scratch" })
  fake.startTask({ namespace: "lab", id: "scratch", pid: 103 })
  return fake
}

/** A new container starts, one pauses, the paused one resumes, one is renamed, one exits. */
const drive = (fake: FakeContainerd.FakeContainerd) => {
  fake.addContainer({ namespace: "default", id: "cache", labels: { "com.docker.compose.project": "shop" } })
  fake.startTask({ namespace: "default", id: "cache", pid: 104 })
  fake.pauseTask({ namespace: "default", id: "web" })
  fake.resumeTask({ namespace: "shop", id: "db" })
  fake.setLabels({ namespace: "lab", id: "scratch", labels: { "nerdctl/name": "experiment" } })
  fake.exitTask({ namespace: "lab", id: "scratch", exitStatus: 2 })
}

const lineCount = (text: string) => text.split("\n").length - 1

describe("whalewatcher watch", () => {
  it.live("--json: a ready line after the first sync, then one object per change (examples/watch.ts)", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["watch", "--json"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stdout.includes("\"ready\""), "the ready line")
          drive(fake)
          yield* waitFor(captured, (c) => lineCount(c.stdout) === 6, "five changes")
        }))
      assert.strictEqual(result.exitCode, undefined, "runs until interrupted")
      assert.strictEqual(result.stderr, "")
      expect(result.stdout).toMatchInlineSnapshot(`
        "{"type":"ready","containers":3}
        {"type":"started","id":"cache","name":"cache","project":"shop","pid":104,"paused":false}
        {"type":"paused","id":"web","name":"frontend","project":"shop","pid":101,"paused":true}
        {"type":"unpaused","id":"shop/db","name":"shop/database","project":"shop","pid":102,"paused":false}
        {"type":"updated","id":"lab/scratch","name":"lab/experiment","project":"","pid":103,"paused":false}
        {"type":"exited","id":"lab/scratch","name":"lab/experiment","project":"","pid":103,"paused":false}
        "
      `)
    }))

  it.live("piped: the portfolio once, then one line per change", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["watch"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stdout.includes("NO PROJECT"), "the portfolio")
          drive(fake)
          yield* waitFor(captured, (c) => c.stdout.includes("exited"), "the exit")
        }))
      expect(withoutTimes(result.stdout)).toMatchInlineSnapshot(`
        "PROJECT shop
          ID           NAME           PID  STATE
          shop/db      shop/database  102  paused
          web          frontend       101  running

        NO PROJECT
          ID           NAME           PID  STATE
          lab/scratch  lab/scratch    103  running

        <timestamp>  started   cache  pid 104  project shop
        <timestamp>  paused    web (frontend)  pid 101  project shop
        <timestamp>  unpaused  shop/db (shop/database)  pid 102  project shop
        <timestamp>  updated   lab/scratch (lab/experiment)  pid 103
        <timestamp>  exited    lab/scratch (lab/experiment)  pid 103  exit status 2
        "
      `)
    }))

  it.live("on a terminal: redrawn in place, grouped by project, recent changes highlighted", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["watch"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => lastFrame(c.stdout).includes("live since"), "the first frame")
          drive(fake)
          yield* waitFor(captured, (c) => lastFrame(c.stdout).includes("exited"), "a frame with the exit")
        }), { tty: true, columns: 100, rows: 30 })
      assert.isTrue(result.stdout.startsWith("\x1b[?25l\x1b[H\x1b[2J"), "hides the cursor and clears the screen")
      assert.isTrue(result.stdout.endsWith("\x1b[?25h\n"), "shows the cursor again when done")
      expect(withoutTimes(lastFrame(result.stdout))).toMatchInlineSnapshot(`
        "whalewatcher  live since <hh:mm:ss>  containerd at /run/containerd/containerd.sock
        3 containers, 1 paused, 1 project

        PROJECT shop
          ID       NAME           PID  STATE
          cache    cache          104  running  ← started <hh:mm:ss>
          shop/db  shop/database  102  running  ← unpaused <hh:mm:ss>
          web      frontend       101  paused   ← paused <hh:mm:ss>

        RECENT EVENTS
          <hh:mm:ss>  started   cache  pid 104  project shop
          <hh:mm:ss>  paused    web (frontend)  pid 101  project shop
          <hh:mm:ss>  unpaused  shop/db (shop/database)  pid 102  project shop
          <hh:mm:ss>  updated   lab/scratch (lab/experiment)  pid 103
          <hh:mm:ss>  exited    lab/scratch (lab/experiment)  pid 103  exit status 2"
      `)
    }))

  it.live("on a small terminal: lines cut to its width, the portfolio cut to its height", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["watch"], fakeConnector(fake), (captured) =>
        waitFor(captured, (c) => lastFrame(c.stdout).includes("PROJECT shop"), "the first frame"), {
        tty: true,
        columns: 40,
        rows: 8
      })
      const frame = lastFrame(result.stdout)
      expect(withoutTimes(frame)).toMatchInlineSnapshot(`
        "whalewatcher  live since <hh:mm:ss>  cont…
        3 containers, 1 paused, 1 project

        PROJECT shop
          ID           NAME           PID  STATE
          shop/db      shop/database  102  paus…
        … 5 more lines: enlarge the terminal"
      `)
      assert.isAtMost(frame.split("\n").length, 7)
    }))

  it.live("the engine missing at the start: exit 3 at once, no retrying", () =>
    Effect.gen(function*() {
      const fake = scene()
      fake.failNext("Events.Subscribe", Code.Unavailable, "not yet")
      const result = yield* runCli(["watch", "--json"], fakeConnector(fake))
      assert.strictEqual(result.exitCode, ExitCode.EngineUnavailable)
      assert.strictEqual(result.stdout, "")
      expect(result.stderr).toMatchInlineSnapshot(`
        "whalewatcher: containerd at /run/containerd/containerd.sock is unavailable (not yet)
        "
      `)
    }))

  it.live("the engine going away later: retrying on stderr, then only what changed meanwhile", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["watch", "--json"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stdout.includes("\"ready\""), "the ready line")
          // The next two attempts to resubscribe fail; the web container exits meanwhile, unseen.
          fake.failNext("Events.Subscribe", Code.Unavailable, "restarting")
          fake.failNext("Events.Subscribe", Code.Unavailable, "restarting")
          fake.dropSubscriptions(Code.Unavailable, "containerd is restarting")
          fake.exitTask({ namespace: "default", id: "web" })
          yield* waitFor(captured, (c) => c.stderr.includes("back in sync"), "the watcher back in sync")
          yield* waitFor(captured, (c) => c.stdout.includes("\"exited\""), "the exit found by the resync")
        }))
      assert.strictEqual(result.exitCode, undefined)
      expect(result.stdout).toMatchInlineSnapshot(`
        "{"type":"ready","containers":3}
        {"type":"exited","id":"web","name":"frontend","project":"shop","pid":101,"paused":false}
        "
      `)
      expect(result.stderr.replace(/retrying in \ds/g, "retrying in <n>s")).toMatchInlineSnapshot(`
        "whalewatcher: containerd at /run/containerd/containerd.sock is unavailable (containerd is restarting); retrying in <n>s (attempt 2)
        whalewatcher: containerd at /run/containerd/containerd.sock is unavailable (restarting); retrying in <n>s (attempt 3)
        whalewatcher: containerd at /run/containerd/containerd.sock is unavailable (restarting); retrying in <n>s (attempt 4)
        whalewatcher: back in sync with containerd at /run/containerd/containerd.sock
        "
      `)
    }))

  it.live("on a terminal, the engine going away shows in the status line until it is back", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["watch"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => lastFrame(c.stdout).includes("live since"), "the first frame")
          fake.failNext("Events.Subscribe", Code.Unavailable, "restarting")
          fake.dropSubscriptions(Code.Unavailable, "restarting")
          const retrying = yield* waitFor(captured, (c) => lastFrame(c.stdout).includes("retrying"), "a frame while retrying")
          expect(withoutTimes(lastFrame(retrying.stdout)).split("\n")[0]).toMatch(
            /^whalewatcher {2}containerd at \/run\/containerd\/containerd\.sock is unavailable \(restarting\); retrying in \ds \(attempt 2\)…$/
          )
          yield* waitFor(captured, (c) => lastFrame(c.stdout).includes("live since"), "a frame when back")
        }), { tty: true, columns: 140 })
      assert.strictEqual(result.exitCode, undefined)
    }))

  it.live("hostile names on the screen are shown harmlessly", () =>
    Effect.gen(function*() {
      const fake = FakeContainerd.make()
      fake.addContainer({
        namespace: "default",
        id: "intruder",
        labels: { "nerdctl/name": "\x1b]0;pwned\x07evil\x1b[2J", "com.docker.compose.project": "a\u202Eb" }
      })
      const result = yield* runCliUntil(["watch"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => lastFrame(c.stdout).includes("live since"), "the first frame")
          fake.startTask({ namespace: "default", id: "intruder", pid: 666 })
          yield* waitFor(captured, (c) => lastFrame(c.stdout).includes("RECENT EVENTS"), "a frame with the start")
        }), { tty: true, env: {} })
      // Colours on: every ESC must start one of our own sequences (SGR, cursor, clearing).
      assert.notMatch(result.stdout, /\x1b(?!\[[0-9;]*[mHJK]|\[\?25[hl]|\[2J)/)
      assert.notMatch(result.stdout, /[\x07\u202e]/)
      assert.include(result.stdout, "\\x1b]0;pwned\\x07evil\\x1b[2J")
    }))
})
