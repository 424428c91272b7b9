/**
 * Waiting for processes and telling them apart across PID reuse, on the readers of /proc.
 * @internal
 */
import { Effect } from "effect"
import { isLive, isProcessRunning, readProcessStatus } from "../../internal/procfs.ts"
import { waitUntil } from "./waiting.ts"

export const waitForExit = (pids: ReadonlyArray<number>, timeoutMillis: number): Effect.Effect<boolean> =>
  waitUntil(
    Effect.promise(async () => !(await Promise.all(pids.map(isProcessRunning))).includes(true)),
    timeoutMillis
  )

/** Identifies a process across pid reuse: its pid plus its start time since boot. */
export const processIdentity = async (pid: number): Promise<string> =>
  `${pid} ${(await readProcessStatus(pid))?.startTime ?? "unknown"}`

export const isIdentityAlive = async (identity: string): Promise<boolean> => {
  const [pid, startTime] = identity.trim().split(" ")
  const status = await readProcessStatus(Number(pid))
  return isLive(status) && status.startTime === startTime
}
