/**
 * Discovery on a fake /proc tree with a fake probe: engine processes recognised by name, their
 * listening sockets matched with the descriptors they hold, sockets of other mount namespaces
 * reached through /proc/PID/root, candidates that do not answer left out, unsupported engines and
 * unreadable descriptors reported.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Discovery } from "../../src/discovery/index.ts"

const trees: Array<string> = []
afterEach(() => {
  for (const tree of trees.splice(0)) fs.rmSync(tree, { recursive: true, force: true })
})

interface FakeProcess {
  readonly pid: number
  readonly name: string
  readonly commandLine: ReadonlyArray<string>
  readonly mounts?: string
  /** Listening sockets of its network namespace: inode and path. */
  readonly listening?: ReadonlyArray<readonly [inode: number, path: string]>
  /** Other lines of net/unix: connected sockets, abstract listeners. */
  readonly otherLines?: ReadonlyArray<string>
  /** Socket inodes it holds; undefined: its fd directory cannot be read. */
  readonly holds?: ReadonlyArray<number> | undefined
}

const header = "Num       RefCount Protocol Flags    Type St Inode Path"
const listenerLine = (inode: number, socketPath: string) => `0000000000000000: 00000002 00000000 00010000 0001 01 ${inode} ${socketPath}`

const fakeProc = (processes: ReadonlyArray<FakeProcess>): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "wwproc-"))
  trees.push(root)
  fs.mkdirSync(path.join(root, "self", "ns"), { recursive: true })
  fs.symlinkSync("mnt:[4026531841]", path.join(root, "self", "ns", "mnt"))
  for (const process of processes) {
    const directory = path.join(root, String(process.pid))
    fs.mkdirSync(path.join(directory, "net"), { recursive: true })
    fs.mkdirSync(path.join(directory, "ns"))
    fs.writeFileSync(path.join(directory, "comm"), `${process.name}\n`)
    fs.writeFileSync(path.join(directory, "cmdline"), `${process.commandLine.join("\0")}\0`)
    fs.symlinkSync(process.mounts ?? "mnt:[4026531841]", path.join(directory, "ns", "mnt"))
    fs.writeFileSync(
      path.join(directory, "net", "unix"),
      [header, ...(process.listening ?? []).map(([inode, socketPath]) => listenerLine(inode, socketPath)), ...(process.otherLines ?? [])]
        .join("\n") + "\n"
    )
    if (process.holds === undefined) {
      fs.writeFileSync(path.join(directory, "fd"), "") // readdir fails, as EACCES would
    } else {
      fs.mkdirSync(path.join(directory, "fd"))
      process.holds.forEach((inode, index) => fs.symlinkSync(`socket:[${inode}]`, path.join(directory, "fd", String(index + 3))))
      fs.symlinkSync("/dev/null", path.join(directory, "fd", "0"))
    }
  }
  return root
}

/** A probe that knows which paths serve which engine, and records what it was asked. */
const fakeProbe = (answers: Record<string, Discovery.ProbeResult>) => {
  const asked: Array<string> = []
  const probe: Discovery.Probe = (family, socketPath) =>
    Effect.sync(() => {
      asked.push(`${family} ${socketPath}`)
      return answers[socketPath]
    })
  return { asked, probe }
}

const containerd = (id: string): Discovery.ProbeResult => ({ kind: "containerd", type: "containerd.io", version: "1.6.20", id })

describe("Discovery", () => {
  it.effect("finds each engine's listening sockets, probes them and keeps those that answer", () =>
    Effect.gen(function*() {
      const root = fakeProc([
        {
          pid: 100,
          name: "containerd",
          commandLine: ["/usr/bin/containerd"],
          listening: [[111, "/run/containerd/containerd.sock"], [112, "/run/containerd/containerd.sock.ttrpc"], [113, "/run/other.sock"]],
          otherLines: [
            "0000000000000000: 00000003 00000000 00000000 0001 03 114 /run/containerd/containerd.sock",
            "0000000000000000: 00000002 00000000 00010000 0001 01 115 @abstract"
          ],
          holds: [111, 112, 114, 115]
        },
        {
          pid: 200,
          name: "dockerd",
          commandLine: ["dockerd", "--host", "unix:///var/run/docker.sock"],
          mounts: "mnt:[4026532000]",
          listening: [[222, "/var/run/docker.sock"]],
          holds: [222]
        },
        { pid: 300, name: "podman", commandLine: ["podman", "run", "busybox"], listening: [[333, "/run/p.sock"]], holds: [333] },
        { pid: 400, name: "bash", commandLine: ["bash"], listening: [[444, "/run/bash.sock"]], holds: [444] },
        { pid: 500, name: "containerd-shim", commandLine: ["containerd-shim-runc-v2"], listening: [[555, "/run/s.sock"]], holds: [555] }
      ])
      const docker = path.join(root, "200", "root", "var", "run", "docker.sock")
      const { asked, probe } = fakeProbe({
        "/run/containerd/containerd.sock": containerd("uuid-1"),
        [docker]: { kind: "docker", type: "docker.com", version: "20.10 API 1.41", id: "DAEMON" }
      })
      const found = yield* Discovery.discover({ procRoot: root, probe, wellKnownSockets: [] })
      assert.deepStrictEqual(found.engines, [
        { kind: "containerd", type: "containerd.io", version: "1.6.20", id: "uuid-1", socketPath: "/run/containerd/containerd.sock", pid: 100 },
        { kind: "docker", type: "docker.com", version: "20.10 API 1.41", id: "DAEMON", socketPath: docker, pid: 200 }
      ])
      // Only listeners the engine holds, with a path; never other processes' sockets.
      assert.deepStrictEqual(asked.sort(), [
        "containerd /run/containerd/containerd.sock",
        "containerd /run/containerd/containerd.sock.ttrpc",
        `docker ${docker}`
      ])
      assert.deepStrictEqual(found.unsupported, [])
      assert.deepStrictEqual(found.notes, [])
    }))

  it.effect("the podman service, cri-o as unsupported, unreadable descriptors as a note, default paths probed", () =>
    Effect.gen(function*() {
      const root = fakeProc([
        { pid: 10, name: "podman", commandLine: ["podman", "system", "service", "--time=0"], listening: [[11, "/run/podman/podman.sock"]], holds: [11] },
        { pid: 20, name: "crio", commandLine: ["crio"], listening: [[21, "/var/run/crio/crio.sock"]], holds: [21] },
        { pid: 30, name: "containerd", commandLine: ["containerd"], listening: [[31, "/run/hidden.sock"]], holds: undefined }
      ])
      const { asked, probe } = fakeProbe({
        "/run/podman/podman.sock": { kind: "podman", type: "docker.com", version: "4.3.1 API 1.41", id: "PODMAN" },
        "/run/containerd/containerd.sock": containerd("uuid-2")
      })
      const found = yield* Discovery.discover({
        procRoot: root,
        probe,
        wellKnownSockets: [["containerd", "/run/containerd/containerd.sock"], ["docker", "/run/podman/podman.sock"], ["docker", "/none.sock"]]
      })
      assert.deepStrictEqual(found.engines.map((engine) => [engine.kind, engine.socketPath, engine.pid]), [
        ["containerd", "/run/containerd/containerd.sock", undefined],
        ["podman", "/run/podman/podman.sock", 10]
      ])
      // The podman socket was found twice (its process, its default path): asked once.
      assert.strictEqual(asked.filter((question) => question.endsWith("/run/podman/podman.sock")).length, 1)
      assert.deepStrictEqual(found.unsupported, [{ name: "cri-o", pid: 20, socketPaths: ["/var/run/crio/crio.sock"] }])
      assert.strictEqual(found.notes.length, 1)
      assert.include(found.notes[0], "engine process 30")
      assert.include(found.notes[0], "run as root")
    }))

  it.live("a probe that hangs is given up after the probe timeout", () =>
    Effect.gen(function*() {
      const root = fakeProc([])
      const found = yield* Discovery.discover({
        procRoot: root,
        probe: () => Effect.never,
        probeTimeout: "50 millis",
        wellKnownSockets: [["containerd", "/run/containerd/containerd.sock"]]
      })
      assert.deepStrictEqual(found.engines, [])
    }))
})
