/**
 * Builds the API reference from the JSDoc with `deno doc --html` into docs/api/, after
 * `deno doc --lint` proved every export documented and explicitly typed; then checks that every
 * relative link and asset in the generated pages resolves to a file.
 *
 *   npm run docs           build and check
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const output = path.join(root, "docs", "api")
const entryPoints = ["src/index.ts", "src/containerd/index.ts", "src/docker/index.ts", "src/discovery/index.ts", "src/testing/index.ts"]
const deno = path.join(root, "node_modules", ".bin", "deno")

const run = (args: ReadonlyArray<string>) => {
  try {
    execFileSync(deno, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
  } catch (error) {
    const failed = error as { stdout?: Buffer; stderr?: Buffer }
    console.error(`deno ${args[0]} ${args[1]} failed:\n${failed.stdout?.toString() ?? ""}${failed.stderr?.toString() ?? ""}`)
    process.exit(1)
  }
}

run(["doc", "--lint", ...entryPoints])
fs.rmSync(output, { recursive: true, force: true })
fs.mkdirSync(output, { recursive: true })
run(["doc", "--html", "--name=effect-whalewatcher", `--output=${output}`, ...entryPoints])

const decodeEntities = (text: string) =>
  text.replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&amp;/g, "&").replace(/&quot;/g, "\"").replace(/&lt;/g, "<").replace(/&gt;/g, ">")

const pages = fs.readdirSync(output, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".html"))
const broken: Array<string> = []
let links = 0
for (const page of pages) {
  const html = fs.readFileSync(path.join(output, page), "utf8")
  for (const [, raw] of html.matchAll(/(?:href|src)="([^"]*)"/g)) {
    const target = decodeEntities(raw!).split("#")[0]!.split("?")[0]!
    if (target === "" || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue
    links++
    const resolved = path.resolve(path.dirname(path.join(output, page)), target)
    if (!fs.existsSync(resolved)) broken.push(`${page} -> ${raw}`)
  }
}
if (broken.length > 0) {
  console.error(`broken links in the API reference:\n- ${broken.join("\n- ")}`)
  process.exit(1)
}
console.log(`API reference: ${pages.length} pages in docs/api, ${links} relative links, none broken; every export documented`)
