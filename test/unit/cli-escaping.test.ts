/**
 * Hostile names, labels and projects: whoever creates a container chooses them, so human output
 * must show them harmlessly (no escape sequence reaches the terminal), while JSON output keeps
 * them exact.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { terminalSafe } from "../../src/cli/Sanitize.ts"
import { FakeContainerd } from "../../src/testing/index.ts"
import { fakeConnector, runCli, runCliUntil, waitFor, withoutTimes } from "./cliHarness.ts"

const retitle = "\x1b]0;pwned\x07"
const clearScreen = "\x1b[2J"
const hostileName = `${retitle}evil${clearScreen}`
const hostileProject = "shop\u202Egnp.exe\u202C"
const hostileLabels = {
  "nerdctl/name": hostileName,
  "com.docker.compose.project": hostileProject,
  "note\x1b[31m": "line one\nline two\r\x9b2J\x7f",
  bell: "\x07\x00\x08"
}

const scene = () => {
  const fake = FakeContainerd.make()
  fake.addContainer({ namespace: "default", id: "intruder", labels: hostileLabels })
  fake.startTask({ namespace: "default", id: "intruder", pid: 666 })
  return fake
}

/** True when every ESC in the text starts one of our own SGR colour sequences. */
const onlyOurEscapes = (text: string) => !/\x1b(?!\[[0-9;]*m)/.test(text)

/** No control character but line breaks; no bidi control. */
const harmless = (text: string) => !/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/.test(text)

describe("terminalSafe", () => {
  it("escapes ESC, CSI, OSC, C0/C1 controls, DEL, bidi controls and lone surrogates; keeps the rest", () => {
    assert.strictEqual(terminalSafe(retitle), "\\x1b]0;pwned\\x07")
    assert.strictEqual(terminalSafe(clearScreen), "\\x1b[2J")
    assert.strictEqual(terminalSafe("\x9b31m"), "\\x9b31m")
    assert.strictEqual(terminalSafe("a\tb\nc\rd\x00\x7f"), "a\\tb\\nc\\rd\\x00\\x7f")
    assert.strictEqual(terminalSafe("\u202Eevil\u202C \u2066x\u2069 \u200F"), "\\u{202E}evil\\u{202C} \\u{2066}x\\u{2069} \\u{200F}")
    assert.strictEqual(terminalSafe("line\u2028next"), "line\\u{2028}next")
    assert.strictEqual(terminalSafe("broken\uD800"), "broken\\u{D800}")
    // U+FFFD is what a label byte that was not UTF-8 decodes to: visible as such.
    assert.strictEqual(terminalSafe("x\uFFFD"), "x\\u{FFFD}")
    assert.strictEqual(terminalSafe("café 中文 🐳 back\\slash"), "café 中文 🐳 back\\slash")
  })
})

describe("hostile containers", () => {
  it.effect("ls shows them harmlessly, also in colour", () =>
    Effect.gen(function*() {
      const plain = yield* runCli(["ls"], fakeConnector(scene()))
      assert.strictEqual(plain.exitCode, ExitCode.Ok)
      assert.isTrue(harmless(plain.stdout))
      expect(plain.stdout).toMatchInlineSnapshot(`
        "PROJECT shop\\u{202E}gnp.exe\\u{202C}
          ID        NAME                         PID  STATE
          intruder  \\x1b]0;pwned\\x07evil\\x1b[2J  666  running
        "
      `)
      const coloured = yield* runCli(["ls"], fakeConnector(scene()), { tty: true, env: {} })
      assert.isTrue(onlyOurEscapes(coloured.stdout), JSON.stringify(coloured.stdout))
    }))

  it.effect("ls --json keeps them exact", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["ls", "--json"], fakeConnector(scene()))
      const [listed] = JSON.parse(result.stdout) as Array<{ name: string; project: string; labels: object }>
      assert.strictEqual(listed!.name, hostileName)
      assert.strictEqual(listed!.project, hostileProject)
      assert.deepStrictEqual(listed!.labels, hostileLabels)
      // JSON.stringify escapes C0 controls; the C1 control and DEL are valid JSON as they are.
      assert.notInclude(result.stdout, "\x1b")
    }))

  it.effect("inspect shows them harmlessly; --json keeps them exact", () =>
    Effect.gen(function*() {
      const human = yield* runCli(["inspect", hostileName], fakeConnector(scene()))
      assert.strictEqual(human.exitCode, ExitCode.Ok)
      assert.isTrue(harmless(human.stdout))
      expect(human.stdout).toMatchInlineSnapshot(`
        "ID         intruder
        NAME       \\x1b]0;pwned\\x07evil\\x1b[2J
        PROJECT    shop\\u{202E}gnp.exe\\u{202C}
        NAMESPACE  default
        PID        666
        STATE      running
        LABELS     bell=\\x07\\x00\\x08
                   com.docker.compose.project=shop\\u{202E}gnp.exe\\u{202C}
                   nerdctl/name=\\x1b]0;pwned\\x07evil\\x1b[2J
                   note\\x1b[31m=line one\\nline two\\r\\x9b2J\\x7f
        "
      `)
      const json = yield* runCli(["inspect", "intruder", "--json"], fakeConnector(scene()))
      assert.deepStrictEqual((JSON.parse(json.stdout) as { labels: object }).labels, hostileLabels)
    }))

  it.effect("error messages quote what was asked for harmlessly", () =>
    Effect.gen(function*() {
      const missing = yield* runCli(["inspect", `x${clearScreen}`], fakeConnector(scene()))
      assert.deepStrictEqual(missing, {
        exitCode: ExitCode.NotFound,
        stdout: "",
        stderr: "whalewatcher: no container named or with ID \"x\\x1b[2J\"\n"
      })
      const usage = yield* runCli(["ls", `--x${retitle}`], fakeConnector(scene()))
      assert.strictEqual(usage.exitCode, ExitCode.Usage)
      assert.isTrue(harmless(usage.stderr), JSON.stringify(usage.stderr))
      const label = yield* runCli(["ls", "--label", `=${retitle}`], fakeConnector(scene()))
      assert.strictEqual(label.stderr, "whalewatcher: --label =\\x1b]0;pwned\\x07: expected KEY=VALUE or KEY\n")
    }))

  it.live("events shows them harmlessly", () =>
    Effect.gen(function*() {
      const fake = scene()
      const result = yield* runCliUntil(["events"], fakeConnector(fake), (captured) =>
        Effect.gen(function*() {
          yield* waitFor(captured, (c) => c.stderr.includes("Ctrl-C ends"), "the ready notice")
          fake.pauseTask({ namespace: "default", id: "intruder" })
          fake.exitTask({ namespace: "default", id: "intruder", exitStatus: 9 })
          yield* waitFor(captured, (c) => c.stdout.includes("exited"), "the exit")
        }))
      assert.isTrue(harmless(result.stdout))
      expect(withoutTimes(result.stdout)).toMatchInlineSnapshot(`
        "<timestamp>  paused    intruder (\\x1b]0;pwned\\x07evil\\x1b[2J)  pid 666  project shop\\u{202E}gnp.exe\\u{202C}
        <timestamp>  exited    intruder (\\x1b]0;pwned\\x07evil\\x1b[2J)  pid 666  project shop\\u{202E}gnp.exe\\u{202C}  exit status 9
        "
      `)
    }))
})
