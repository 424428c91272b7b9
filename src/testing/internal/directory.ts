/**
 * The private directory of a sandbox: created with an owner file, files read defensively, and the
 * busybox root filesystem that containers and images are made from.
 * @internal
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import * as nodeProcess from "node:process"
import { Effect } from "effect"
import { messageOf, runChecked } from "./process.ts"
import { processIdentity } from "./procfs.ts"
import { SandboxError } from "./SandboxError.ts"

export const attempt = <A>(operation: string, what: string, thunk: () => Promise<A>): Effect.Effect<A, SandboxError> =>
  Effect.tryPromise({
    try: thunk,
    catch: (cause) => new SandboxError({ operation, message: `${what}: ${messageOf(cause)}` })
  })

// sun_path is 108 bytes including the terminating NUL.
const maxSocketPathBytes = 107

/** The file naming the process that owns a sandbox directory (pid and start time). */
export const ownerFileOf = (directory: string): string => nodePath.join(directory, "owner.pid")

/**
 * Creates `<prefix>XXXXXX` and writes its owner file first, so that from then on a sweep by another
 * process can tell whether the owner is alive. `longestSocketName` is the longest socket path any
 * daemon will create inside it (relative): it must fit a unix socket address.
 */
export const createSandboxDirectory = (prefix: string, longestSocketName: string): Effect.Effect<string, SandboxError> =>
  Effect.gen(function*() {
    const directory = yield* attempt("start", `cannot create a directory at ${prefix}XXXXXX`, async () => {
      await fs.mkdir(nodePath.dirname(prefix), { recursive: true })
      return fs.mkdtemp(prefix)
    })
    return yield* Effect.gen(function*() {
      const longestSocket = nodePath.join(directory, longestSocketName)
      if (new TextEncoder().encode(longestSocket).length > maxSocketPathBytes) {
        return yield* new SandboxError({
          operation: "start",
          message: `socket path ${longestSocket} is too long for a unix socket; use a shorter directoryPrefix`
        })
      }
      yield* attempt("start", "cannot write the owner file", async () => {
        await fs.writeFile(ownerFileOf(directory), await processIdentity(nodeProcess.pid))
      })
      return directory
    }).pipe(
      // Not yet handed to a finalizer: remove it here.
      Effect.onError(() => Effect.promise(() => fs.rm(directory, { recursive: true, force: true })))
    )
  }).pipe(Effect.uninterruptible)

/** The host's static busybox: copied into every rootfs. */
export const hostBusybox = "/bin/busybox"

export const outputLines = (output: string): ReadonlyArray<string> =>
  output.split("\n").map((line) => line.trim()).filter((line) => line.length > 0)

/** A busybox root filesystem: the applets as symlinks, a writable /tmp, root in passwd and group. */
export const buildBusyboxRootfs = (rootfs: string): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const applets = outputLines(yield* runChecked("start", hostBusybox, ["--list"]))
    yield* attempt("start", `cannot build the busybox rootfs in ${rootfs}`, async () => {
      for (const directory of ["bin", "dev", "proc", "sys", "tmp", "etc"]) {
        await fs.mkdir(nodePath.join(rootfs, directory), { recursive: true })
      }
      const busybox = nodePath.join(rootfs, "bin", "busybox")
      await fs.copyFile(hostBusybox, busybox)
      await fs.chmod(busybox, 0o755)
      await Promise.all(
        applets
          .filter((applet) => applet !== "busybox" && !applet.includes("/"))
          .map((applet) => fs.symlink("busybox", nodePath.join(rootfs, "bin", applet)))
      )
      // mkdir applies the umask; /tmp must be world-writable and sticky.
      await fs.chmod(nodePath.join(rootfs, "tmp"), 0o1777)
      await fs.writeFile(nodePath.join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
      await fs.writeFile(nodePath.join(rootfs, "etc", "group"), "root:x:0:\n")
    })
  })

export const readTextFile = (file: string): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    try {
      return await fs.readFile(file, "utf8")
    } catch {
      return undefined
    }
  })

export const pathExists = (file: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      await fs.lstat(file)
      return true
    } catch {
      return false
    }
  })

/** The last lines of a daemon's log, for error messages. */
export const logTail = (logFile: string): Effect.Effect<string> =>
  Effect.map(readTextFile(logFile), (log) => (log ?? "").split("\n").slice(-30).join("\n").slice(-4000))


export const isSocket = (file: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      return (await fs.stat(file)).isSocket()
    } catch {
      return false
    }
  })

