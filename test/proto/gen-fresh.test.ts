// gen/ is committed, so an edit to proto/ without `npm run gen` (or a hand edit of gen/) would ship
// code that no longer matches its schema. Regenerate into a temp dir and compare file by file.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { listFiles, repoRoot, runBuf } from "./descriptors.ts"

const workDir = mkdtempSync(join(tmpdir(), "whalewatcher-gen-"))
afterAll(() => rmSync(workDir, { recursive: true, force: true }))

/** Problems with `committed` relative to `fresh`, one line per file, paths shown under `label`. */
const diffTrees = (fresh: string, committed: string, label: string): Array<string> => {
  const freshFiles = listFiles(fresh)
  const committedFiles = listFiles(committed)
  const problems: Array<string> = []
  for (const file of freshFiles) {
    if (!committedFiles.includes(file)) {
      problems.push(`${label}/${file} is missing`)
      continue
    }
    const want = readFileSync(join(fresh, file), "utf8")
    const have = readFileSync(join(committed, file), "utf8")
    if (want !== have) {
      problems.push(`${label}/${file} is stale (first difference at line ${firstDiffLine(want, have)})`)
    }
  }
  for (const file of committedFiles) {
    if (!freshFiles.includes(file)) problems.push(`${label}/${file} is extra (proto/ no longer generates it)`)
  }
  return problems
}

const firstDiffLine = (a: string, b: string): number => {
  const [linesA, linesB] = [a.split("\n"), b.split("\n")]
  const index = linesA.findIndex((line, i) => line !== linesB[i])
  return (index === -1 ? linesA.length : index) + 1
}

describe("gen/", () => {
  it("is what `npm run gen` makes from proto/ today", () => {
    // The committed buf.gen.yaml itself, with --output prefixing its `out: gen`: nothing to drift.
    runBuf(["generate", "--output", workDir], repoRoot)
    const problems = diffTrees(join(workDir, "gen"), join(repoRoot, "gen"), "gen")
    expect(problems, "gen/ is out of date with proto/: run npm run gen").toEqual([])
  })

  it("comparison names stale, missing and extra files (self-test)", () => {
    const write = (path: string, text: string) => {
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, text)
    }
    const [fresh, committed] = [join(workDir, "self", "fresh"), join(workDir, "self", "committed")]
    write(join(fresh, "a/same.ts"), "x\n")
    write(join(committed, "a/same.ts"), "x\n")
    write(join(fresh, "a/stale.ts"), "one\ntwo\n")
    write(join(committed, "a/stale.ts"), "one\nold\n")
    write(join(fresh, "missing.ts"), "")
    write(join(committed, "extra.ts"), "")
    expect(diffTrees(fresh, committed, "gen")).toEqual([
      "gen/a/stale.ts is stale (first difference at line 2)",
      "gen/missing.ts is missing",
      "gen/extra.ts is extra (proto/ no longer generates it)"
    ])
  })
})
