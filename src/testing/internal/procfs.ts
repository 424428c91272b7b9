/**
 * Processes and mounts, seen through /proc.
 * @internal
 */
import * as fs from "node:fs/promises"
import { Effect } from "effect"
import { waitUntil } from "./waiting.ts"

export interface ProcessStatus {
  readonly state: string
  readonly parentPid: number
  readonly startTime: string
}

export const readProcessStatus = async (pid: number): Promise<ProcessStatus | undefined> => {
  try {
    const text = await fs.readFile(`/proc/${pid}/stat`, "utf8")
    // The command name in parentheses may contain spaces and parentheses: fields start after the last ")".
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0] ?? "", parentPid: Number(fields[1]), startTime: fields[19] ?? "" }
  } catch {
    return undefined
  }
}

export const isLive = (status: ProcessStatus | undefined): status is ProcessStatus =>
  status !== undefined && status.state !== "Z" && status.state !== "X"

export const isProcessRunning = async (pid: number): Promise<boolean> => isLive(await readProcessStatus(pid))

export const readCommandLine = async (pid: number): Promise<ReadonlyArray<string>> => {
  try {
    const text = await fs.readFile(`/proc/${pid}/cmdline`, "utf8")
    return text.split("\0").filter((argument, index, all) => argument.length > 0 || index < all.length - 1)
  } catch {
    return []
  }
}

export interface ProcessInfo {
  readonly pid: number
  readonly parentPid: number
  readonly commandLine: ReadonlyArray<string>
}

export const scanProcesses = async (): Promise<ReadonlyArray<ProcessInfo>> => {
  const pids = (await fs.readdir("/proc")).filter((entry) => /^\d+$/.test(entry)).map(Number)
  const found = await Promise.all(pids.map(async (pid) => {
    const status = await readProcessStatus(pid)
    if (!isLive(status)) return undefined
    return { pid, parentPid: status.parentPid, commandLine: await readCommandLine(pid) }
  }))
  return found.filter((info): info is ProcessInfo => info !== undefined)
}

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

