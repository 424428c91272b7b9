/**
 * What discovery reads of /proc (or of a tree laid out like it, in tests): processes, their mount
 * namespaces, the unix sockets they listen on (parsed by the one reader of net/unix).
 * @internal
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { readUnixSockets } from "../../internal/procfs.ts"

/** A process as discovery sees it. */
export interface ProcessEntry {
  readonly pid: number
  /** The command's name (`/proc/PID/comm`). */
  readonly name: string
  readonly commandLine: ReadonlyArray<string>
}

const readText = (path: string): Promise<string | undefined> => fs.readFile(path, "utf8").then((text) => text, () => undefined)

/** Every process of the tree at `root` with a name; processes that vanish meanwhile are left out. */
export const readProcesses = async (root: string): Promise<ReadonlyArray<ProcessEntry>> => {
  let entries: Array<string>
  try {
    entries = await fs.readdir(root)
  } catch {
    return []
  }
  const found = await Promise.all(entries.filter((entry) => /^\d+$/.test(entry)).map(async (entry): Promise<ProcessEntry | undefined> => {
    const name = (await readText(nodePath.join(root, entry, "comm")))?.trim()
    if (name === undefined || name === "") return undefined
    const commandLine = ((await readText(nodePath.join(root, entry, "cmdline"))) ?? "").split("\0").filter((part) => part !== "")
    return { pid: Number(entry), name, commandLine }
  }))
  return found.filter((process): process is ProcessEntry => process !== undefined)
}

/**
 * The listening unix sockets with a path in the network namespace of `pid`, by inode; abstract
 * sockets (`@name`) have no file and are left out.
 */
export const listeningSockets = async (root: string, pid: number): Promise<ReadonlyMap<string, string>> => {
  const sockets = await readUnixSockets(nodePath.join(root, String(pid), "net", "unix"))
  return new Map(
    sockets.filter((socket) => socket.listening && socket.path.startsWith("/")).map((socket) => [socket.inode, socket.path])
  )
}

/** The socket inodes `pid` holds open, or undefined when its descriptors cannot be read. */
export const socketInodes = async (root: string, pid: number): Promise<ReadonlySet<string> | undefined> => {
  const directory = nodePath.join(root, String(pid), "fd")
  let descriptors: Array<string>
  try {
    descriptors = await fs.readdir(directory)
  } catch {
    return undefined
  }
  const inodes = new Set<string>()
  await Promise.all(descriptors.map(async (descriptor) => {
    const target = await fs.readlink(nodePath.join(directory, descriptor)).catch(() => "")
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match !== null) inodes.add(match[1]!)
  }))
  return inodes
}

/** The mount namespace of `pid` (`mnt:[…]`), undefined when it cannot be read. */
export const mountNamespace = (root: string, pid: number | "self"): Promise<string | undefined> =>
  fs.readlink(nodePath.join(root, String(pid), "ns", "mnt")).then((link) => link, () => undefined)
