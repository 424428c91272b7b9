// Our proto/ is a hand-written subset of containerd's API. This proves it wire-compatible with the
// real thing: every message, field, enum and method we declare is compared with containerd's own
// definitions, taken from Debian's containerd source package (1.6 on Debian 12).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { clone } from "@bufbuild/protobuf"
import { FieldDescriptorProto_Type, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt"
import type { DescriptorProto, FileDescriptorSet } from "@bufbuild/protobuf/wkt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bufBuild, compareWire, NEWER_THAN_UPSTREAM, ourProtoFiles, repoRoot } from "./descriptors.ts"
import { loadUpstream, type Upstream } from "./upstream-protos.ts"

const workDir = mkdtempSync(join(tmpdir(), "whalewatcher-proto-"))
afterAll(() => rmSync(workDir, { recursive: true, force: true }))

const ourFiles = ourProtoFiles()
const ours = bufBuild(repoRoot, "proto", join(workDir, "ours.binpb"))

/** A copy of `set` with `edit` applied to message `messageName` (e.g. `TaskExit`) of file `fileName`. */
const alterMessage = (
  set: FileDescriptorSet,
  fileName: string,
  messageName: string,
  edit: (message: DescriptorProto) => void
): FileDescriptorSet => {
  const copy = clone(FileDescriptorSetSchema, set)
  const message = copy.file.find((f) => f.name === fileName)?.messageType.find((m) => m.name === messageName)
  if (message === undefined) throw new Error(`no message ${messageName} in ${fileName}`)
  edit(message)
  return copy
}

const fieldOf = (message: DescriptorProto, name: string) => {
  const field = message.field.find((f) => f.name === name)
  if (field === undefined) throw new Error(`no field ${name} in ${message.name}`)
  return field
}

const exitStatusRenumbered = alterMessage(ours, "containerd/events/task.proto", "TaskExit", (m) => {
  fieldOf(m, "exit_status").number = 5
})

describe("compareWire (self-test: the check can fail)", () => {
  it("finds nothing when our descriptors are compared with themselves", () => {
    expect(compareWire(ours, ourFiles, ours).mismatches).toEqual([])
  })

  it.each([
    {
      change: "a field number",
      altered: exitStatusRenumbered,
      expected: "containerd.events.TaskExit.exit_status: upstream number 4, ours 5"
    },
    {
      change: "a scalar type",
      altered: alterMessage(ours, "containerd/types/task.proto", "Process", (m) => {
        fieldOf(m, "pid").type = FieldDescriptorProto_Type.UINT64
      }),
      expected: "containerd.v1.types.Process.pid: upstream type uint32, ours uint64"
    },
    {
      change: "a field name",
      altered: alterMessage(ours, "containerd/events/task.proto", "TaskStart", (m) => {
        fieldOf(m, "pid").name = "process_id"
      }),
      expected: "containerd.events.TaskStart.process_id: field absent upstream (upstream has pid = 2)"
    },
    {
      change: "an enum value number",
      altered: (() => {
        const copy = clone(FileDescriptorSetSchema, ours)
        const status = copy.file.find((f) => f.name === "containerd/types/task.proto")?.enumType[0]
        const running = status?.value.find((v) => v.name === "RUNNING")
        if (running === undefined) throw new Error("no Status.RUNNING")
        running.number = 7
        return copy
      })(),
      expected: "containerd.v1.types.Status.RUNNING: upstream number 2, ours 7"
    },
    {
      change: "a method's streaming flag",
      altered: (() => {
        const copy = clone(FileDescriptorSetSchema, ours)
        const events = copy.file.find((f) => f.name === "containerd/services/events/v1/events.proto")
        const subscribe = events?.service[0]?.method.find((m) => m.name === "Subscribe")
        if (subscribe === undefined) throw new Error("no Events.Subscribe")
        subscribe.serverStreaming = false
        return copy
      })(),
      expected: "/containerd.services.events.v1.Events/Subscribe: upstream kind server_streaming, ours unary"
    }
  ])("reports exactly the altered element when $change changes", ({ altered, expected }) => {
    expect(compareWire(altered, ourFiles, ours).mismatches).toEqual([expected])
  })

  it("compares an allowlisted field normally once upstream has it", () => {
    const introspection = "containerd/services/introspection/v1/introspection.proto"
    const upstreamWithPid32 = alterMessage(ours, introspection, "ServerResponse", (m) => {
      fieldOf(m, "pid").type = FieldDescriptorProto_Type.UINT32
    })
    const result = compareWire(ours, ourFiles, upstreamWithPid32)
    expect(result.mismatches).toEqual([
      "containerd.services.introspection.v1.ServerResponse.pid: upstream type uint32, ours uint64"
    ])
    expect(result.allowlistedAbsent).toEqual([])
  })

  it("rejects an allowlist entry that names no declared field", () => {
    const allowlist = new Map([["containerd.events.TaskExit.exit_code", "typo of exit_status"]])
    expect(compareWire(ours, ourFiles, ours, allowlist).mismatches).toEqual([
      "containerd.events.TaskExit.exit_code: allowlisted, but our proto/ declares no such field"
    ])
  })
})

describe("our proto/ against containerd's upstream .proto files", () => {
  let upstream: Upstream = { available: false, reason: "not loaded" }
  beforeAll(() => {
    upstream = loadUpstream(workDir, ourFiles)
  }, 180_000)

  // Without apt or a reachable repository the check cannot run; that may skip on a developer's
  // machine, but in CI a silent skip would hide a broken check, so there it fails.
  const requireUpstream = (skip: (note: string) => never) => {
    if (upstream.available) return upstream
    const reason = `upstream containerd protos unavailable: ${upstream.reason}`
    if (process.env["CI"] === "true") throw new Error(`${reason}\n(CI=true: failing instead of skipping)`)
    return skip(reason)
  }

  it("declares every message, field, enum value and method exactly as upstream does", ({ skip }) => {
    const { descriptors, containerdVersion } = requireUpstream(skip)
    const result = compareWire(ours, ourFiles, descriptors)
    const { messages, fields, enums, enumValues, services, methods } = result.counts
    console.info(
      `compared with containerd ${containerdVersion}: ${messages} messages, ${fields} fields, ` +
        `${enums} enums (${enumValues} values), ${services} services (${methods} methods); ` +
        `allowlisted as newer than upstream and absent there: ${result.allowlistedAbsent.join(", ") || "none"}`
    )
    expect(result.mismatches, `proto/ differs from containerd ${containerdVersion}`).toEqual([])
    // The allowlist may only excuse absence; on 1.6 both entries must really be missing.
    if (containerdVersion.startsWith("1.6.")) {
      expect(result.allowlistedAbsent).toEqual([...NEWER_THAN_UPSTREAM.keys()])
    }
  })

  it("reports a deliberately renumbered field against upstream", ({ skip }) => {
    const { descriptors } = requireUpstream(skip)
    expect(compareWire(exitStatusRenumbered, ourFiles, descriptors).mismatches).toEqual([
      "containerd.events.TaskExit.exit_status: upstream number 4, ours 5"
    ])
  })
})
