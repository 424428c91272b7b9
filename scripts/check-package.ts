/**
 * Checks what `npm publish` would ship: only the built entry points, their declarations and the
 * README and LICENSE — no tests, benchmarks, CI files or sources of the build — and that every entry point in
 * `exports` is in the tarball and loads in Node. Run after `npm run build`.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const root = path.resolve(import.meta.dirname, "..")
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  exports: Record<string, { types: string; default: string } | null>
}
const [pack] = JSON.parse(
  execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" })
) as Array<{ files: Array<{ path: string }>; size: number; unpackedSize: number }>
const files = pack!.files.map((file) => file.path)
const problems: Array<string> = []

const allowed = (file: string) =>
  file === "package.json" || file === "README.md" || file === "LICENSE" || (file.startsWith("dist/") && !/\.test\.|\/test\//.test(file))
for (const file of files) if (!allowed(file)) problems.push(`ships ${file}`)
for (const required of ["LICENSE", "README.md"]) if (!files.includes(required)) problems.push(`does not ship ${required}`)

// Exact entry points; the "./*" pattern (each public module, for declaration emit in apps) and
// the null entries that keep internals out are checked by the consumer-package test.
const entryPoints = Object.entries(manifest.exports).flatMap(([entry, target]) =>
  target === null || entry.includes("*") ? [] : [[entry, target] as const]
)
for (const [entry, target] of entryPoints) {
  for (const file of [target.types, target.default]) {
    if (!files.includes(file.replace(/^\.\//, ""))) problems.push(`export "${entry}" points at ${file}, which is not packed`)
  }
  try {
    await import(pathToFileURL(path.join(root, target.default)).href)
  } catch (error) {
    problems.push(`export "${entry}" does not load: ${String(error)}`)
  }
}

if (problems.length > 0) {
  console.error(`package check failed:\n- ${problems.join("\n- ")}`)
  process.exit(1)
}
console.log(`package check: ${files.length} files, ${pack!.size} bytes packed, ${pack!.unpackedSize} unpacked; ${entryPoints.length} entry points load`)
