/**
 * What a sandbox could leave on the host, for the tests that prove its teardown leaves nothing.
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Effect } from "effect"
import { isProcessRunning, processesMentioning, readMountPoints } from "../../src/internal/procfs.ts"

const exists = (path: string): Promise<boolean> => fs.access(path).then(() => true, () => false)

/** What else to look for besides the directory, the processes mentioning it and its mounts. */
export interface Traces {
  /** cgroups of these names, below the cgroup root and below each of its hierarchies. */
  readonly cgroups?: ReadonlyArray<string>
  /** Further paths that must be gone, e.g. runc's state of a namespace. */
  readonly paths?: ReadonlyArray<string>
  /** Processes that must be gone, e.g. the containers' init processes. */
  readonly pids?: ReadonlyArray<number>
}

/** Everything of `directory`'s sandbox still on the host, described; empty when it left nothing. */
export const leftoversOf = (directory: string, traces: Traces = {}): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(async () => {
    const found: Array<string> = []
    if (await exists(directory)) found.push(`directory ${directory}`)
    for (const info of await processesMentioning(directory)) found.push(`process ${info.pid}: ${info.commandLine.join(" ")}`)
    for (const pid of traces.pids ?? []) if (await isProcessRunning(pid)) found.push(`container process ${pid}`)
    for (const mountPoint of await readMountPoints()) {
      if (mountPoint.startsWith(directory)) found.push(`mount ${mountPoint}`)
    }
    const hierarchies = await fs.readdir("/sys/fs/cgroup")
    for (const name of traces.cgroups ?? []) {
      for (const hierarchy of ["", ...hierarchies]) {
        const cgroup = nodePath.join("/sys/fs/cgroup", hierarchy, name)
        if (await exists(cgroup)) found.push(`cgroup ${cgroup}`)
      }
    }
    for (const path of traces.paths ?? []) if (await exists(path)) found.push(`path ${path}`)
    return found
  })
