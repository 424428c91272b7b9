// Helpers for the proto tests: run the project's own `buf`, read descriptor sets, and compare the
// wire-relevant parts of our hand-written proto/ against another descriptor set (upstream's).
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { delimiter, join } from "node:path"
import { fileURLToPath } from "node:url"
import { createFileRegistry, fromBinary, ScalarType } from "@bufbuild/protobuf"
import type { DescEnum, DescField, DescMessage, DescService } from "@bufbuild/protobuf"
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt"
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt"

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
export const protoDir = join(repoRoot, "proto")
const binDir = join(repoRoot, "node_modules", ".bin")

/** Every file under `dir`, as sorted `/`-separated paths relative to it. */
export const listFiles = (dir: string, prefix = ""): Array<string> =>
  readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((entry) => {
      const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`
      return entry.isDirectory() ? listFiles(dir, path) : entry.isFile() ? [path] : []
    })
    .sort()

/** Our .proto files by their import name, e.g. `containerd/events/task.proto`. */
export const ourProtoFiles = (): Array<string> => listFiles(protoDir).filter((f) => f.endsWith(".proto"))

/**
 * Runs node_modules/.bin/buf. node_modules/.bin goes first on PATH so that `local: protoc-gen-es`
 * in buf.gen.yaml resolves to the pinned plugin, exactly as under `npm run gen`.
 */
export const runBuf = (args: ReadonlyArray<string>, cwd: string): void => {
  const result = spawnSync(join(binDir, "buf"), args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, PATH: `${binDir}${delimiter}${process.env["PATH"] ?? ""}` }
  })
  if (result.error !== undefined) throw result.error
  if (result.status !== 0) {
    throw new Error(`buf ${args.join(" ")} (in ${cwd}) exited ${result.status}:\n${result.stderr}`)
  }
}

/** Compiles `input` (relative to cwd) to a FileDescriptorSet; imports are included so types resolve. */
export const bufBuild = (
  cwd: string,
  input: string,
  outFile: string,
  paths: ReadonlyArray<string> = []
): FileDescriptorSet => {
  runBuf(["build", input, "--as-file-descriptor-set", "-o", outFile, ...paths.flatMap((p) => ["--path", p])], cwd)
  return fromBinary(FileDescriptorSetSchema, readFileSync(outFile))
}

/**
 * Names (full names, `pkg.Message.field`) of fields that our proto/ declares on purpose although the
 * upstream release we compare with lacks them. Only fields that genuinely come from NEWER containerd
 * releases belong here; the watcher copes with their absence at runtime.
 */
export const NEWER_THAN_UPSTREAM: ReadonlyMap<string, string> = new Map([
  // containerd 1.6 answers Introspection/Server with the uuid only; later releases add the engine PID.
  ["containerd.services.introspection.v1.ServerResponse.pid", "added to ServerResponse after containerd 1.6"],
  ["containerd.services.introspection.v1.ServerResponse.pidns", "added to ServerResponse after containerd 1.6"]
])

export interface WireComparison {
  /** Human-readable problems, each naming the element, e.g. `pkg.Msg.field: upstream number 4, ours 5`. */
  readonly mismatches: ReadonlyArray<string>
  /** Allowlisted fields that were confirmed absent upstream (so skipped, not compared). */
  readonly allowlistedAbsent: ReadonlyArray<string>
  readonly counts: {
    messages: number
    fields: number
    enums: number
    enumValues: number
    services: number
    methods: number
  }
}

/**
 * Compares every message, field, enum, enum value, service and method declared in `ourFiles` of
 * `ours` with the element of the same full name in `upstream`, on what decides wire compatibility:
 * field names, numbers, types (scalar kind or referenced type name), cardinality, map key/value types,
 * enum value numbers, and method input/output types and streaming kinds.
 *
 * Map entry messages are compared through their map fields: protobuf-es folds them into
 * `field.mapKey` / `field.mapValue`, which is all of a map entry that reaches the wire.
 */
export const compareWire = (
  ours: FileDescriptorSet,
  ourFiles: ReadonlyArray<string>,
  upstream: FileDescriptorSet,
  allowlist: ReadonlyMap<string, string> = NEWER_THAN_UPSTREAM
): WireComparison => {
  const ourRegistry = createFileRegistry(ours)
  const upstreamRegistry = createFileRegistry(upstream)
  const mismatches: Array<string> = []
  const allowlistedAbsent: Array<string> = []
  const declaredFields = new Set<string>()
  const counts = { messages: 0, fields: 0, enums: 0, enumValues: 0, services: 0, methods: 0 }

  const compareEnum = (ourEnum: DescEnum): void => {
    counts.enums++
    const theirs = upstreamRegistry.getEnum(ourEnum.typeName)
    if (theirs === undefined) {
      mismatches.push(`${ourEnum.typeName}: enum absent upstream`)
      return
    }
    for (const value of ourEnum.values) {
      counts.enumValues++
      const where = `${ourEnum.typeName}.${value.name}`
      const theirValue = theirs.values.find((v) => v.name === value.name)
      if (theirValue === undefined) {
        mismatches.push(`${where}: enum value absent upstream${holderOf(theirs.values, value.number)}`)
      } else if (theirValue.number !== value.number) {
        mismatches.push(`${where}: upstream number ${theirValue.number}, ours ${value.number}`)
      }
    }
  }

  const compareField = (field: DescField, theirs: DescMessage): void => {
    counts.fields++
    const where = `${field.parent.typeName}.${field.name}`
    declaredFields.add(where)
    const theirField = theirs.fields.find((f) => f.name === field.name)
    if (theirField === undefined) {
      if (allowlist.has(where)) allowlistedAbsent.push(where)
      else mismatches.push(`${where}: field absent upstream${holderOf(theirs.fields, field.number)}`)
      return
    }
    if (theirField.number !== field.number) {
      mismatches.push(`${where}: upstream number ${theirField.number}, ours ${field.number}`)
    }
    const [theirType, ourType] = [describeFieldType(theirField), describeFieldType(field)]
    if (theirType !== ourType) mismatches.push(`${where}: upstream type ${theirType}, ours ${ourType}`)
  }

  const compareMessage = (message: DescMessage): void => {
    counts.messages++
    const theirs = upstreamRegistry.getMessage(message.typeName)
    if (theirs === undefined) mismatches.push(`${message.typeName}: message absent upstream`)
    else for (const field of message.fields) compareField(field, theirs)
    message.nestedEnums.forEach(compareEnum)
    message.nestedMessages.forEach(compareMessage)
  }

  const compareService = (service: DescService): void => {
    counts.services++
    const theirs = upstreamRegistry.getService(service.typeName)
    for (const method of service.methods) {
      counts.methods++
      const where = `/${service.typeName}/${method.name}`
      const theirMethod = theirs?.methods.find((m) => m.name === method.name)
      if (theirMethod === undefined) {
        mismatches.push(`${where}: method absent upstream`)
        continue
      }
      const pairs = [
        ["input", theirMethod.input.typeName, method.input.typeName],
        ["output", theirMethod.output.typeName, method.output.typeName],
        ["kind", theirMethod.methodKind, method.methodKind]
      ] as const
      for (const [aspect, theirValue, ourValue] of pairs) {
        if (theirValue !== ourValue) mismatches.push(`${where}: upstream ${aspect} ${theirValue}, ours ${ourValue}`)
      }
    }
  }

  for (const fileName of ourFiles) {
    const file = ourRegistry.getFile(fileName)
    if (file === undefined) throw new Error(`${fileName} is not in our descriptor set`)
    file.enums.forEach(compareEnum)
    file.messages.forEach(compareMessage)
    file.services.forEach(compareService)
  }
  // A stale allowlist entry would otherwise sit unnoticed, ready to hide a future field of that name.
  for (const name of allowlist.keys()) {
    if (!declaredFields.has(name)) mismatches.push(`${name}: allowlisted, but our proto/ declares no such field`)
  }
  return { mismatches, allowlistedAbsent, counts }
}

/** ` (upstream has X = n)` when another upstream element holds `number`: a likely rename. */
const holderOf = (elements: ReadonlyArray<{ name: string; number: number }>, number: number): string => {
  const holder = elements.find((e) => e.number === number)
  return holder === undefined ? "" : ` (upstream has ${holder.name} = ${number})`
}

const scalarName = (scalar: ScalarType): string => ScalarType[scalar].toLowerCase()

/** A field's wire-relevant type in proto syntax, e.g. `repeated uint32`, `map<string, google.protobuf.Any>`. */
export const describeFieldType = (field: DescField): string => {
  switch (field.fieldKind) {
    case "scalar":
      return scalarName(field.scalar)
    case "enum":
      return `enum ${field.enum.typeName}`
    case "message":
      return field.message.typeName
    case "list":
      return `repeated ${
        field.listKind === "scalar"
          ? scalarName(field.scalar)
          : field.listKind === "enum"
          ? `enum ${field.enum.typeName}`
          : field.message.typeName
      }`
    case "map":
      return `map<${scalarName(field.mapKey)}, ${
        field.mapKind === "scalar"
          ? scalarName(field.scalar)
          : field.mapKind === "enum"
          ? `enum ${field.enum.typeName}`
          : field.message.typeName
      }>`
  }
}
