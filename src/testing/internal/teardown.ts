/**
 * Removing what a sandbox leaves outside of its processes: mounts below its directory, cgroups.
 * @internal
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Effect } from "effect"
import { readMountPoints } from "../../internal/procfs.ts"
import { runChecked } from "./process.ts"
import { SandboxError } from "./SandboxError.ts"
import { pollIntervalMillis, sleepMillis } from "./waiting.ts"

const cgroupRoot = "/sys/fs/cgroup"

export const mountPointsBelow = (directory: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(Effect.promise(readMountPoints), (mountPoints) =>
    mountPoints
      .filter((mountPoint) => mountPoint === directory || mountPoint.startsWith(`${directory}/`))
      // Deepest first, so that no unmount is blocked by a mount below it.
      .sort((a, b) => b.split("/").length - a.split("/").length))

export const unmountEverythingBelow = (directory: string): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    for (const mountPoint of yield* mountPointsBelow(directory)) {
      yield* Effect.ignore(runChecked("teardown", "umount", ["-l", mountPoint]))
    }
    const remaining = yield* mountPointsBelow(directory)
    // Removing the directory recursively would descend into these and delete what they show.
    if (remaining.length > 0) {
      return yield* new SandboxError({
        operation: "teardown",
        message: `still mounted, not removing ${directory}: ${remaining.join(", ")}`
      })
    }
  })

export const removeDirectoryIfEmpty = (directory: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    // rmdir refuses non-empty directories and cgroups that still have processes or children, which
    // is exactly the protection we want for anything shared. A cgroup whose last process just died
    // can report EBUSY for a moment.
    for (let attemptNumber = 0; attemptNumber < 20; attemptNumber++) {
      const outcome = yield* Effect.promise(async () => {
        try {
          await fs.rmdir(directory)
          return "done"
        } catch (cause) {
          return (cause as { readonly code?: unknown }).code === "EBUSY" ? "busy" : "done"
        }
      })
      if (outcome === "done") return
      yield* sleepMillis(pollIntervalMillis)
    }
  })

export const cgroupHierarchies = Effect.promise(async (): Promise<ReadonlyArray<string>> => {
  try {
    const entries = await fs.readdir(cgroupRoot, { withFileTypes: true })
    // cgroup v1 mounts one hierarchy per controller below the root; cgroup v2 is the root itself.
    return [cgroupRoot, ...entries.filter((entry) => entry.isDirectory()).map((entry) => nodePath.join(cgroupRoot, entry.name))]
  } catch {
    return []
  }
})

