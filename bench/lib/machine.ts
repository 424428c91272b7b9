/**
 * Facts about the machine and the software a run measured, so that RESULTS.md can be compared
 * with a run elsewhere (or judged as not comparable).
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { runProcess } from "../../src/testing/internal/process.ts"

export const root = path.resolve(import.meta.dirname, "../..")
export const bin = (name: string): string => path.join(root, "node_modules", ".bin", name)

/** Runs a program and returns its trimmed stdout, or the reason it failed. */
export const output = (file: string, args: ReadonlyArray<string>): Promise<string> =>
  Effect.runPromise(
    runProcess("machine", file, args, { timeoutMillis: 30_000 }).pipe(
      Effect.map((result) =>
        result.exitCode === 0
          ? result.stdout.trim()
          : `unavailable (exit ${result.exitCode}: ${result.stderr.trim().split("\n")[0]})`
      ),
      Effect.catch((error) => Effect.succeed(`unavailable (${error.message})`))
    )
  )

const packageVersion = async (name: string): Promise<string> => {
  try {
    const manifest = JSON.parse(await fs.readFile(path.join(root, "node_modules", name, "package.json"), "utf8"))
    return String(manifest.version)
  } catch {
    return "missing"
  }
}

const cpuModel = async (): Promise<string> => {
  const fromOs = os.cpus()[0]?.model
  // Virtual machines often hide the exact model: add family/model/stepping, which still identify it.
  try {
    const info = await fs.readFile("/proc/cpuinfo", "utf8")
    const field = (name: string) => info.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1]?.trim()
    const mhz = Math.round(Number(field("cpu MHz") ?? "0"))
    return `${field("model name") ?? fromOs ?? "unknown"} (family ${field("cpu family")}, model ${field("model")}, ` +
      `stepping ${field("stepping")}${mhz > 0 ? `, ${mhz} MHz` : ""})`
  } catch {
    return fromOs ?? "unknown"
  }
}

export interface Machine {
  readonly date: string
  readonly facts: ReadonlyArray<readonly [string, string]>
}

/**
 * Collects the facts; `containerdVersion` comes from the engine itself (Version RPC), `engines`
 * are further engines a run measured (name, version), listed after containerd.
 */
export const describeMachine = async (
  containerdVersion: string,
  engines: ReadonlyArray<readonly [string, string]> = []
): Promise<Machine> => {
  const [cpu, deno, bun, runc] = await Promise.all([
    cpuModel(),
    output(bin("deno"), ["--version"]).then((text) => text.split("\n")[0] ?? text),
    output(bin("bun"), ["--version"]),
    output("runc", ["--version"]).then((text) => text.split("\n")[0] ?? text)
  ])
  const versions = await Promise.all(
    ["effect", "@connectrpc/connect", "@connectrpc/connect-node", "@bufbuild/protobuf", "@grpc/grpc-js", "@grpc/proto-loader", "dockerode"]
      .map(async (name) => `${name} ${await packageVersion(name)}`)
  )
  return {
    date: new Date().toISOString(),
    facts: [
      ["cpu", cpu],
      ["cores", String(os.cpus().length)],
      ["memory", `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(os.freemem() / 2 ** 30).toFixed(1)} GiB free at start`],
      ["kernel", `${os.type()} ${os.release()} ${os.arch()}`],
      ["node", process.version],
      ["deno", deno],
      ["bun", bun],
      ["containerd", containerdVersion],
      ...engines,
      ["runc", runc],
      ["libraries", versions.join(", ")]
    ]
  }
}

/** MemAvailable from /proc/meminfo in bytes (what can be used without swapping). */
export const availableMemory = async (): Promise<number> => {
  try {
    const info = await fs.readFile("/proc/meminfo", "utf8")
    const kb = Number(info.match(/^MemAvailable:\s+(\d+) kB$/m)?.[1])
    return Number.isFinite(kb) ? kb * 1024 : os.freemem()
  } catch {
    return os.freemem()
  }
}
