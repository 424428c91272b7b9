/**
 * The npm package as an app installs it: packed with `npm pack`, unpacked into a small consumer
 * package beside the consumer's own `effect`, and compiled with `declaration: true`. Proves that
 * effect is a peer (one copy, the app's), that a library exporting layers composed from ours
 * compiles (every type its declarations name is reachable through our `exports`), and that the
 * tarball carries its LICENSE. Runs offline: the consumer links the repository's node_modules.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"

const root = path.resolve(import.meta.dirname, "../..")
const tsc = path.join(root, "node_modules", ".bin", "tsc")

/** A library of the user's own that re-exports layers built from ours, with inferred types. */
const consumerSource = `import { Layer } from "effect"
import { Watcher } from "effect-whalewatcher"
import { ContainerdEngine, NamespaceFilter } from "effect-whalewatcher/containerd"
import { FakeEngine } from "effect-whalewatcher/testing"

export const EngineLive = ContainerdEngine.layerConfig()
export const WatcherLive = Watcher.layer().pipe(Layer.provide(EngineLive))
export const DefaultOnly = NamespaceFilter.only(["default"])
export const TestWatcher = FakeEngine.watcherLayer
export const program = Watcher.Watcher.useSync((watcher) => watcher.ready)
`

interface PackedManifest {
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
}

describe("the npm package in a consumer's app", () => {
  let workspace = ""
  let packed = ""
  let files: ReadonlyArray<string> = []

  beforeAll(() => {
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), "wws-consumer-"))
    const output = execFileSync("npm", ["pack", "--json", "--pack-destination", workspace], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"]
    })
    const [pack] = JSON.parse(output) as Array<{ filename: string; files: Array<{ path: string }> }>
    files = pack!.files.map((file) => file.path)
    const consumer = path.join(workspace, "consumer")
    packed = path.join(consumer, "node_modules", "effect-whalewatcher")
    fs.mkdirSync(packed, { recursive: true })
    execFileSync("tar", ["-xzf", path.join(workspace, pack!.filename), "-C", packed, "--strip-components=1"])
    // The consumer's own dependencies: effect (its copy, the only one) and what ours need.
    for (const name of ["effect", "@bufbuild", "@connectrpc", "@types"]) {
      fs.symlinkSync(path.join(root, "node_modules", name), path.join(consumer, "node_modules", name))
    }
    fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", type: "module", private: true }))
    fs.writeFileSync(path.join(consumer, "index.ts"), consumerSource)
    fs.writeFileSync(
      path.join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          declaration: true,
          skipLibCheck: false,
          types: ["node"],
          outDir: "out"
        },
        files: ["index.ts"]
      })
    )
  }, 120_000)

  afterAll(() => {
    if (workspace !== "") fs.rmSync(workspace, { recursive: true, force: true })
  })

  it("declares effect as a peer, not as a dependency of its own", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(packed, "package.json"), "utf8")) as PackedManifest
    assert.isUndefined(manifest.dependencies?.["effect"])
    assert.match(manifest.peerDependencies?.["effect"] ?? "", /^\^4\./)
    assert.isFalse(fs.existsSync(path.join(packed, "node_modules")))
  })

  it("ships LICENSE and README", () => {
    assert.include(files, "LICENSE")
    assert.include(files, "README.md")
    assert.match(fs.readFileSync(path.join(packed, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0/)
  })

  it("compiles a library that exports layers composed from ours, declarations included", () => {
    const consumer = path.dirname(path.dirname(packed))
    let output = ""
    try {
      execFileSync(tsc, ["-p", "."], { cwd: consumer, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    } catch (error) {
      output = String((error as { stdout?: unknown }).stdout ?? error)
    }
    assert.strictEqual(output, "")
    const declarations = fs.readFileSync(path.join(consumer, "out", "index.d.ts"), "utf8")
    assert.include(declarations, "export declare const WatcherLive")
    assert.notInclude(declarations, "/dist/")
  }, 60_000)
})
