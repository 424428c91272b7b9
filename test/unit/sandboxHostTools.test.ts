import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ensureHostTools } from "../../src/testing/internal/hostTools.ts"

const missing = {
  purpose: "a tool that does not exist",
  programs: ["whalewatcher-no-such-program"],
  files: ["/nonexistent/whalewatcher-no-such-file"],
  packages: ["whalewatcher-no-such-package"]
}

describe("sandbox host tools", () => {
  it.effect("a missing tool is a SandboxError naming the install command; nothing is installed unless asked", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ensureHostTools(missing, false))
      assert.strictEqual(error._tag, "SandboxError")
      assert.strictEqual(error.operation, "install")
      assert.include(error.message, "whalewatcher-no-such-program")
      assert.include(error.message, "/nonexistent/whalewatcher-no-such-file")
      assert.include(error.message, "apt-get install -y --no-install-recommends whalewatcher-no-such-package")
      // The opt-in is named for root, who could have installed them.
      if (process.getuid?.() === 0) assert.include(error.message, "installMissingPackages: true")
    }))

  it.effect("present tools pass (as root)", () =>
    Effect.gen(function*() {
      const result = yield* Effect.exit(ensureHostTools({ purpose: "sh", programs: ["sh"], files: [], packages: [] }, false))
      assert.strictEqual(result._tag, process.getuid?.() === 0 ? "Success" : "Failure")
    }))
})
