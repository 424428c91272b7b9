/**
 * Driving a Docker Engine API daemon (dockerd, or Podman's compat service) of a sandbox with the
 * `docker` command line, and the teardown pieces the Docker and Podman sandboxes share.
 * @internal
 */
import * as http from "node:http"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import * as nodeProcess from "node:process"
import { Effect } from "effect"
import { attempt, buildBusyboxRootfs, outputLines } from "./directory.ts"
import { commandFailed, runChecked, runProcess, signalProcess } from "./process.ts"
import { scanProcesses } from "../../internal/procfs.ts"
import { waitForExit } from "./procfs.ts"
import { SandboxError } from "./SandboxError.ts"
import { cgroupHierarchies, removeDirectoryIfEmpty } from "./teardown.ts"

/** The image every sandbox container runs: the busybox rootfs, imported, sleeping by default. */
export const sandboxImage = "whalewatcher-busybox:sandbox"

/** True once something answers `/_ping` with 200 on the socket. */
export const answersPing = (socketPath: string): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const request = http.get({ socketPath, path: "/_ping", timeout: 1000 }, (response) => {
      response.resume()
      resume(Effect.succeed(response.statusCode === 200))
    })
    request.once("error", () => resume(Effect.succeed(false)))
    request.once("timeout", () => request.destroy())
    return Effect.sync(() => request.destroy())
  })

/** Runs `docker` against the sandbox's socket, with a private CLI config; returns stdout. */
export const dockerCli = (
  socketPath: string,
  directory: string,
  operation: string,
  args: ReadonlyArray<string>
): Effect.Effect<string, SandboxError> =>
  Effect.flatMap(
    runProcess(operation, "docker", ["--host", `unix://${socketPath}`, ...args], {
      env: { DOCKER_CONFIG: nodePath.join(directory, "cli") }
    }),
    (output) =>
      output.exitCode === 0
        ? Effect.succeed(output.stdout)
        : Effect.fail(commandFailed(operation, "docker", args, output))
  )

/** `docker exec`: the exec'd process's exit code; failing to run it at all is an error. */
export const dockerExec = (
  socketPath: string,
  directory: string,
  nameOrId: string,
  command: ReadonlyArray<string>
): Effect.Effect<number, SandboxError> =>
  Effect.flatMap(
    runProcess("exec", "docker", ["--host", `unix://${socketPath}`, "exec", nameOrId, ...command], {
      env: { DOCKER_CONFIG: nodePath.join(directory, "cli") }
    }),
    (output) =>
      // The CLI exits with 126/127 and a message when it cannot run the command, and with the
      // process's own code otherwise.
      output.exitCode !== 0 && /Error response from daemon|is paused|not running/i.test(output.stderr)
        ? Effect.fail(commandFailed("exec", "docker", ["exec", nameOrId, ...command], output))
        : Effect.succeed(output.exitCode)
  )

/** Builds the busybox rootfs in the directory and imports it as {@link sandboxImage}. */
export const importBusyboxImage = (socketPath: string, directory: string): Effect.Effect<void, SandboxError> =>
  Effect.gen(function*() {
    const rootfs = nodePath.join(directory, "rootfs")
    const archive = nodePath.join(directory, "rootfs.tar")
    yield* buildBusyboxRootfs(rootfs)
    yield* runChecked("start", "tar", ["-C", rootfs, "-cf", archive, "."])
    yield* dockerCli(socketPath, directory, "start", [
      "import",
      "--change",
      `CMD ["/bin/sleep", "100000"]`,
      archive,
      sandboxImage
    ])
    yield* attempt("start", "cannot remove the rootfs archive", () => fs.rm(archive, { force: true }))
  })

/** Force-removes every container of the daemon (best effort). */
export const removeAllContainers = (socketPath: string, directory: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const ids = outputLines(yield* dockerCli(socketPath, directory, "teardown", ["ps", "--all", "--quiet", "--no-trunc"]))
    if (ids.length > 0) yield* dockerCli(socketPath, directory, "teardown", ["rm", "--force", "--volumes", ...ids])
  }).pipe(Effect.ignore)

/**
 * Kills, by pid, every process whose command line mentions the directory (a podman conmon, a
 * dockerd) and their children (the containers they supervise). Never this process.
 */
export const killProcessesMentioning = (directory: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const processes = yield* Effect.promise(scanProcesses)
    const mentioning = new Set(
      processes
        .filter((info) => info.pid !== nodeProcess.pid && info.commandLine.some((argument) => argument.includes(directory)))
        .map((info) => info.pid)
    )
    if (mentioning.size === 0) return
    const victims = [...processes.filter((info) => mentioning.has(info.parentPid)).map((info) => info.pid), ...mentioning]
    for (const pid of victims) signalProcess(pid, "SIGKILL")
    yield* waitForExit(victims, 5_000)
  })

/** Removes a private cgroup parent (`/<name>` in every hierarchy) and whatever empty cgroups are below it. */
export const removeCgroupParent = (name: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) return
    for (const hierarchy of yield* cgroupHierarchies) {
      const parent = nodePath.join(hierarchy, name)
      const children = yield* Effect.promise(() =>
        fs.readdir(parent, { withFileTypes: true }).then(
          (entries) => entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name),
          () => [] as Array<string>
        )
      )
      for (const child of children) yield* removeDirectoryIfEmpty(nodePath.join(parent, child))
      yield* removeDirectoryIfEmpty(parent)
    }
  })

/** Whether a path exists now (to remove later only what the sandbox created). */
export const existsNow = (path: string): Promise<boolean> => fs.lstat(path).then(() => true, () => false)

export { SandboxError }
