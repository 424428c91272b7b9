// Obtains containerd's own .proto files from Debian's Go source packages and compiles the ones our
// proto/ mirrors into a FileDescriptorSet. Everything happens inside a caller-owned temp directory.
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt"
import { bufBuild } from "./descriptors.ts"

// containerd's API; gogo's gogo.proto (imported by every containerd API file); and gogo's copy of
// googleapis, because introspection.proto imports google/rpc/status.proto, which buf does not
// bundle (only google/protobuf/* is built in).
const PACKAGES = [
  "golang-github-containerd-containerd-dev",
  "golang-github-gogo-protobuf-dev",
  "golang-github-gogo-googleapis-dev"
] as const
type Package = (typeof PACKAGES)[number]

// Each package's import root inside its .deb: containerd imports `github.com/containerd/...`,
// `gogoproto/gogo.proto` and `google/rpc/status.proto` relative to these.
const IMPORT_ROOT: Record<Package, string> = {
  "golang-github-containerd-containerd-dev": "usr/share/gocode/src",
  "golang-github-gogo-protobuf-dev": "usr/share/gocode/src/github.com/gogo/protobuf",
  "golang-github-gogo-googleapis-dev": "usr/share/gocode/src/github.com/gogo/googleapis"
}

const CONTAINERD_API = "github.com/containerd/containerd/api"

/** The upstream file (under containerd's `api/`) that each of our proto/ files is a subset of. */
export const UPSTREAM_FILE_OF: Readonly<Record<string, string>> = {
  "containerd/events/container.proto": "events/container.proto",
  "containerd/events/namespace.proto": "events/namespace.proto",
  "containerd/events/task.proto": "events/task.proto",
  "containerd/services/containers/v1/containers.proto": "services/containers/v1/containers.proto",
  "containerd/services/events/v1/events.proto": "services/events/v1/events.proto",
  "containerd/services/introspection/v1/introspection.proto": "services/introspection/v1/introspection.proto",
  "containerd/services/namespaces/v1/namespace.proto": "services/namespaces/v1/namespace.proto",
  "containerd/services/tasks/v1/tasks.proto": "services/tasks/v1/tasks.proto",
  "containerd/services/version/v1/version.proto": "services/version/v1/version.proto",
  "containerd/types/mount.proto": "types/mount.proto",
  "containerd/types/task.proto": "types/task/task.proto"
}

export type Upstream =
  | { readonly available: true; readonly descriptors: FileDescriptorSet; readonly containerdVersion: string }
  | { readonly available: false; readonly reason: string }

interface Outcome {
  readonly ok: boolean
  readonly missing: boolean
  readonly output: string
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string): Outcome => {
  const result = spawnSync(command, args, { cwd, encoding: "utf8" })
  return {
    ok: result.error === undefined && result.status === 0,
    missing: (result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT",
    output: `${result.stdout ?? ""}${result.stderr ?? ""}`.trim() || String(result.error ?? "")
  }
}

const mustRun = (command: string, args: ReadonlyArray<string>, cwd: string): string => {
  const outcome = run(command, args, cwd)
  if (!outcome.ok) throw new Error(`${command} ${args.join(" ")} failed:\n${outcome.output}`)
  return outcome.output
}

// apt's wording when it has no package lists (fresh container) rather than no repository access.
const NO_LISTS = /Unable to locate package|has no installation candidate|Can't select candidate version/

/**
 * Downloads and unpacks the packages into `workDir`, then compiles the upstream counterparts of
 * `ourFiles`. Returns `available: false` only when apt itself is missing or cannot reach a
 * repository; anything going wrong after the download is a real failure and throws.
 */
export const loadUpstream = (workDir: string, ourFiles: ReadonlyArray<string>): Upstream => {
  const unmapped = ourFiles.filter((f) => UPSTREAM_FILE_OF[f] === undefined)
  if (unmapped.length > 0) {
    throw new Error(`no upstream counterpart listed in UPSTREAM_FILE_OF for ${unmapped.join(", ")}`)
  }

  if (run("apt-get", ["--version"], workDir).missing) {
    return { available: false, reason: "apt-get is not installed (not a Debian system)" }
  }
  let download = run("apt-get", ["download", ...PACKAGES], workDir)
  if (!download.ok && NO_LISTS.test(download.output) && process.getuid?.() === 0) {
    const update = run("apt-get", ["update"], workDir)
    if (!update.ok) return { available: false, reason: `apt-get update failed:\n${update.output}` }
    download = run("apt-get", ["download", ...PACKAGES], workDir)
  }
  if (!download.ok) {
    return { available: false, reason: `apt-get download failed (no reachable apt repository?):\n${download.output}` }
  }

  const debs = readdirSync(workDir).filter((f) => f.endsWith(".deb"))
  const debOf = (pkg: Package): string => {
    const deb = debs.find((f) => f.startsWith(`${pkg}_`))
    if (deb === undefined) throw new Error(`apt-get download left no .deb for ${pkg} in ${workDir}`)
    return deb
  }
  // One directory per package keeps their import roots disjoint (gogo's nest inside containerd's).
  for (const pkg of PACKAGES) mustRun("dpkg", ["-x", debOf(pkg), pkg], workDir)
  const containerdVersion = mustRun("dpkg-deb", ["-f", debOf(PACKAGES[0]), "Version"], workDir)

  const roots = PACKAGES.map((pkg) => `${pkg}/${IMPORT_ROOT[pkg]}`)
  // A buf workspace with one module per import root; --path then limits compilation to the files we
  // mirror plus what they import (fieldpath.proto, gogo.proto, status.proto, google/protobuf/*).
  writeFileSync(join(workDir, "buf.yaml"), `version: v2\nmodules:\n${roots.map((r) => `  - path: ${r}\n`).join("")}`)
  const upstreamPaths = [...new Set(ourFiles.map((f) => `${roots[0]}/${CONTAINERD_API}/${UPSTREAM_FILE_OF[f]}`))]
  for (const path of upstreamPaths) {
    if (!existsSync(join(workDir, path))) throw new Error(`${path} is not in ${PACKAGES[0]} ${containerdVersion}`)
  }
  const descriptors = bufBuild(workDir, ".", join(workDir, "upstream.binpb"), upstreamPaths)
  return { available: true, descriptors, containerdVersion }
}
