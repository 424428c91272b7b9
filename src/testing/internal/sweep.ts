/**
 * Sandboxes left by crashed runs: a sibling directory whose owner process is gone is claimed and
 * cleaned up by the next sandbox of the same kind.
 * @internal
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import * as nodeProcess from "node:process"
import { Effect } from "effect"
import { ownerFileOf } from "./directory.ts"
import { isIdentityAlive, processIdentity } from "./procfs.ts"


const sweepLockFileOf = (directory: string): string => nodePath.join(directory, "sweep.lock")

/**
 * A sibling directory is stale when the process that created it is gone (its daemons, started in
 * their own sessions, may well still run). Sandboxes of live processes, this one included, are kept,
 * and so are directories without an owner file: they are not ours to judge.
 */
const isStaleSandbox = (directory: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      if (!(await fs.lstat(directory)).isDirectory()) return false
      return !(await isIdentityAlive(await fs.readFile(ownerFileOf(directory), "utf8")))
    } catch {
      return false
    }
  })

/** Claims a stale directory for cleanup, so that two new sandboxes do not clean it up together. */
const claimForSweep = (directory: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    const identity = await processIdentity(nodeProcess.pid)
    const lockFile = sweepLockFileOf(directory)
    try {
      await fs.writeFile(lockFile, identity, { flag: "wx" })
      return true
    } catch {
      // Claimed already: take over only from a sweeper that died on the job.
      const holder = await fs.readFile(lockFile, "utf8").catch(() => undefined)
      if (holder === undefined || (await isIdentityAlive(holder))) return false
      await fs.writeFile(lockFile, identity)
      return true
    }
  })

/** Cleans up, with `cleanup`, every stale sibling directory named `<directoryPrefix>…`. */
export const sweepStaleSandboxes = (
  directoryPrefix: string,
  cleanup: (directory: string) => Effect.Effect<void>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const parent = nodePath.dirname(directoryPrefix)
    const namePrefix = nodePath.basename(directoryPrefix)
    const entries = yield* Effect.promise(() => fs.readdir(parent).catch(() => [] as Array<string>))
    for (const entry of entries) {
      if (!entry.startsWith(namePrefix)) continue
      const directory = nodePath.join(parent, entry)
      if (!(yield* isStaleSandbox(directory)) || !(yield* claimForSweep(directory))) continue
      yield* cleanup(directory)
    }
  })
