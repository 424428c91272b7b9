/**
 * Processes, unix sockets and mounts as Linux shows them in /proc. Every reader answers with
 * "nothing" instead of failing where /proc is missing (not Linux) or a process went away while
 * it was read.
 * @internal
 */
import * as fs from "node:fs/promises"

/** A file's text, or undefined when it cannot be read (gone meanwhile, or no /proc at all). */
const readText = async (path: string): Promise<string | undefined> => {
  try {
    return await fs.readFile(path, "utf8")
  } catch {
    return undefined
  }
}

/** Fields of /proc/PID/stat. */
export interface ProcessStatus {
  /** One letter: R running, S sleeping, T stopped, Z zombie, X dead, ... */
  readonly state: string
  readonly parentPid: number
  /** Clock ticks since boot: together with the PID it tells a process from a later one with the same PID. */
  readonly startTime: string
}

export const readProcessStatus = async (pid: number): Promise<ProcessStatus | undefined> => {
  const text = await readText(`/proc/${pid}/stat`)
  if (text === undefined) return undefined
  // The command name in parentheses may contain spaces and parentheses: fields start after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  return { state: fields[0] ?? "", parentPid: Number(fields[1]), startTime: fields[19] ?? "" }
}

/** A process that still runs: neither gone nor a zombie. */
export const isLive = (status: ProcessStatus | undefined): status is ProcessStatus =>
  status !== undefined && status.state !== "Z" && status.state !== "X"

export const isProcessRunning = async (pid: number): Promise<boolean> => isLive(await readProcessStatus(pid))

/** The arguments a process was started with; empty when it is gone (or a kernel thread). */
export const readCommandLine = async (pid: number): Promise<ReadonlyArray<string>> =>
  ((await readText(`/proc/${pid}/cmdline`)) ?? "")
    .split("\0")
    .filter((argument, index, all) => argument.length > 0 || index < all.length - 1)

export interface ProcessInfo {
  readonly pid: number
  readonly parentPid: number
  readonly commandLine: ReadonlyArray<string>
}

const processIds = async (): Promise<ReadonlyArray<number>> => {
  try {
    return (await fs.readdir("/proc")).filter((entry) => /^\d+$/.test(entry)).map(Number)
  } catch {
    return []
  }
}

/** Every live process. */
export const scanProcesses = async (): Promise<ReadonlyArray<ProcessInfo>> => {
  const found = await Promise.all((await processIds()).map(async (pid) => {
    const status = await readProcessStatus(pid)
    if (!isLive(status)) return undefined
    return { pid, parentPid: status.parentPid, commandLine: await readCommandLine(pid) }
  }))
  return found.filter((info): info is ProcessInfo => info !== undefined)
}

/** The live processes whose command line (arguments joined by spaces) contains `text`. */
export const processesMentioning = async (text: string): Promise<ReadonlyArray<ProcessInfo>> =>
  (await scanProcesses()).filter((info) => info.commandLine.join(" ").includes(text))

/** A row of /proc/net/unix. */
export interface UnixSocket {
  readonly inode: string
  /** The socket's path; empty for an unnamed socket. Both ends of a connection show it. */
  readonly path: string
  /** A listening socket (else one end of a connection). */
  readonly listening: boolean
}

// Columns: Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 marks a listening socket.
/** The sockets of a net/unix table. */
export const parseUnixSockets = (table: string): ReadonlyArray<UnixSocket> =>
  table.split("\n").slice(1).flatMap((line) => {
    const columns = line.trim().split(/\s+/)
    return columns.length < 7
      ? []
      : [{ inode: columns[6]!, path: columns.slice(7).join(" "), listening: columns[3] === "00010000" }]
  })

/** The unix sockets of `table` (this process's network namespace by default). */
export const readUnixSockets = async (table = "/proc/net/unix"): Promise<ReadonlyArray<UnixSocket>> =>
  parseUnixSockets((await readText(table)) ?? "")

/**
 * The PID of the process listening on `socketPath`, or undefined when it cannot be told (other
 * processes' file descriptors are readable only with enough privileges).
 */
export const findSocketOwner = async (socketPath: string): Promise<number | undefined> => {
  const listener = (await readUnixSockets()).find((socket) => socket.listening && socket.path === socketPath)
  if (listener === undefined) return undefined
  const target = `socket:[${listener.inode}]`
  for (const pid of await processIds()) {
    let descriptors: Array<string>
    try {
      descriptors = await fs.readdir(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const descriptor of descriptors) {
      try {
        if ((await fs.readlink(`/proc/${pid}/fd/${descriptor}`)) === target) return pid
      } catch {
        // the process or descriptor went away meanwhile
      }
    }
  }
  return undefined
}

/** /proc/self/mounts writes space, tab, newline and backslash in paths as octal escapes. */
const decodeMountPath = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))

/** The mount points this process sees. */
export const readMountPoints = async (): Promise<ReadonlyArray<string>> =>
  ((await readText("/proc/self/mounts")) ?? "").split("\n").flatMap((line) => {
    const field = line.split(" ")[1]
    return field === undefined ? [] : [decodeMountPath(field)]
  })
