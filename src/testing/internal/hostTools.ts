/**
 * The host programs a sandbox needs: find the missing ones and, only when asked to, install their
 * Debian packages (root).
 * @internal
 */
import { constants as fsConstants } from "node:fs"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import * as nodeProcess from "node:process"
import { Effect } from "effect"
import { commandFailed, type ProcessOutput, runProcess, toolEnvironment } from "./process.ts"
import { SandboxError } from "./SandboxError.ts"

const isExecutable = async (file: string): Promise<boolean> => {
  try {
    await fs.access(file, fsConstants.X_OK)
    return true
  } catch {
    return false
  }
}

const isOnPath = async (program: string): Promise<boolean> => {
  const directories = (toolEnvironment()["PATH"] ?? "").split(":")
  for (const directory of directories) {
    if (await isExecutable(nodePath.join(directory, program))) return true
  }
  return false
}

/** What a sandbox needs on the host, and where it comes from. */
export interface HostRequirements {
  /** Who needs them, for messages: e.g. "containerd and runc". */
  readonly purpose: string
  /** Programs that must be on PATH (with the sbin directories). */
  readonly programs: ReadonlyArray<string>
  /** Absolute paths of files that must be executable. */
  readonly files: ReadonlyArray<string>
  /** The Debian packages that provide all of them. */
  readonly packages: ReadonlyArray<string>
}

const findMissing = (requirements: HostRequirements) =>
  Effect.promise(async (): Promise<ReadonlyArray<string>> => {
    const missing: Array<string> = []
    for (const program of requirements.programs) {
      if (!(await isOnPath(program))) missing.push(program)
    }
    for (const file of requirements.files) {
      if (!(await isExecutable(file))) missing.push(file)
    }
    return missing
  })

const installCommandLine = (packages: ReadonlyArray<string>): string =>
  `apt-get install -y --no-install-recommends ${packages.join(" ")}`

const hasAptPackageLists = Effect.promise(async () => {
  try {
    return (await fs.readdir("/var/lib/apt/lists")).some((entry) => entry.includes("_Packages"))
  } catch {
    return false
  }
})

const aptGet = (args: ReadonlyArray<string>) =>
  // The lock timeout waits for a concurrent apt/dpkg run (another sandbox installing the same packages).
  runProcess("install", "apt-get", ["-o", "DPkg::Lock::Timeout=300", ...args], {
    env: { DEBIAN_FRONTEND: "noninteractive" }
  })

const failUnlessSuccess = (file: string, args: ReadonlyArray<string>) => (output: ProcessOutput) =>
  output.exitCode === 0 ? Effect.void : Effect.fail(commandFailed("install", file, args, output))

const installPackages = (packages: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const freshLists = !(yield* hasAptPackageLists)
    if (freshLists) yield* Effect.flatMap(aptGet(["update"]), failUnlessSuccess("apt-get", ["update"]))
    const installArgs = ["install", "-y", "--no-install-recommends", ...packages]
    const installed = yield* aptGet(installArgs)
    if (installed.exitCode === 0) return
    // Outdated package lists are the usual reason; refresh them once unless we just did.
    if (freshLists) return yield* commandFailed("install", "apt-get", installArgs, installed)
    yield* Effect.flatMap(aptGet(["update"]), failUnlessSuccess("apt-get", ["update"]))
    yield* Effect.flatMap(aptGet(installArgs), failUnlessSuccess("apt-get", installArgs))
  })

/**
 * Fails unless everything required is there and this process is root. Installs the missing
 * packages with apt-get only when `install` is true (an explicit opt-in: a test layer must not
 * change the host's packages by surprise).
 */
export const ensureHostTools = Effect.fnUntraced(function*(requirements: HostRequirements, install: boolean) {
  const isRoot = nodeProcess.getuid?.() === 0
  const missing = yield* findMissing(requirements)
  if (missing.length > 0) {
    if (!isRoot || !install) {
      return yield* new SandboxError({
        operation: "install",
        message: `missing ${missing.join(", ")}; install them as root: ` +
          `DEBIAN_FRONTEND=noninteractive ${installCommandLine(requirements.packages)}` +
          (isRoot ? " (or pass installMissingPackages: true)" : "")
      })
    }
    yield* installPackages(requirements.packages)
    const stillMissing = yield* findMissing(requirements)
    if (stillMissing.length > 0) {
      return yield* new SandboxError({
        operation: "install",
        message: `still missing after ${installCommandLine(requirements.packages)}: ${stillMissing.join(", ")}`
      })
    }
  }
  if (!isRoot) {
    return yield* new SandboxError({
      operation: "start",
      message: `${requirements.purpose} need root: run the sandbox as root`
    })
  }
})
