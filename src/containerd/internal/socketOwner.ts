/**
 * Finds the PID of the process listening on a unix socket, from /proc (Linux only; other
 * processes' file descriptors are readable only with enough privileges).
 * @internal
 */
import * as fs from "node:fs/promises"

// /proc/net/unix columns: Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 marks a
// listening socket.
const listeningInode = (table: string, socketPath: string): string | undefined => {
  for (const line of table.split("\n").slice(1)) {
    const columns = line.trim().split(/\s+/)
    if (columns.length >= 8 && columns.slice(7).join(" ") === socketPath && columns[3] === "00010000") {
      return columns[6]
    }
  }
  return undefined
}

/** The PID of the process listening on `socketPath`, or undefined when it cannot be told. */
export const findSocketOwner = async (socketPath: string): Promise<number | undefined> => {
  try {
    const inode = listeningInode(await fs.readFile("/proc/net/unix", "utf8"), socketPath)
    if (inode === undefined) return undefined
    const target = `socket:[${inode}]`
    for (const entry of await fs.readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      let fds: Array<string>
      try {
        fds = await fs.readdir(`/proc/${entry}/fd`)
      } catch {
        continue
      }
      for (const fd of fds) {
        try {
          if ((await fs.readlink(`/proc/${entry}/fd/${fd}`)) === target) return Number(entry)
        } catch {
          // the process or descriptor went away meanwhile
        }
      }
    }
  } catch {
    // not Linux, or /proc not readable
  }
  return undefined
}
