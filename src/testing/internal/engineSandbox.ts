/**
 * The container operations of the Docker and Podman sandboxes: the same `docker` command lines
 * against either daemon's socket.
 * @internal
 */
import { Effect } from "effect"
import type { DockerSandboxRunOptions, EngineSandboxOperations } from "../DockerSandbox.ts"
import { dockerCli, dockerExec, sandboxImage } from "./dockerCli.ts"
import { SandboxError } from "./SandboxError.ts"
import { waitUntil } from "./waiting.ts"

const labelFlags = (labels: Readonly<Record<string, string>> | undefined): ReadonlyArray<string> =>
  Object.entries(labels ?? {}).flatMap(([key, value]) => ["--label", `${key}=${value}`])

/** The operations on the daemon at `socketPath`; `runFlags` are added to every `docker run`. */
export const makeOperations = (
  socketPath: string,
  directory: string,
  runFlags: ReadonlyArray<string>
): EngineSandboxOperations => {
  const docker = (args: ReadonlyArray<string>, operation = "docker") => dockerCli(socketPath, directory, operation, args)
  const state = (nameOrId: string, template: string) =>
    Effect.map(docker(["inspect", "--type", "container", "--format", template, nameOrId], "inspect"), (out) => out.trim())

  const run = Effect.fn("EngineSandbox.run")(function*(options: DockerSandboxRunOptions) {
    const id = (yield* docker([
      "run",
      "--detach",
      "--network",
      "none",
      "--pull",
      "never",
      // busybox sleep ignores SIGTERM: without this every stop waits 10 s.
      "--stop-timeout",
      "1",
      ...runFlags,
      ...(options.name === undefined ? [] : ["--name", options.name]),
      ...labelFlags(options.labels),
      sandboxImage,
      ...(options.command ?? [])
    ], "run")).trim()
    const pid = Number(yield* state(id, "{{.State.Pid}}"))
    if (!Number.isInteger(pid) || pid <= 0) {
      return yield* new SandboxError({ operation: "run", message: `container ${id} started but has no pid` })
    }
    return { id, pid }
  })

  const kill = Effect.fn("EngineSandbox.kill")(function*(nameOrId: string) {
    yield* docker(["kill", "--signal", "KILL", nameOrId], "kill")
    const exited = yield* waitUntil(
      Effect.map(state(nameOrId, "{{.State.Running}}"), (running) => running === "false"),
      10_000
    )
    if (!exited) return yield* new SandboxError({ operation: "kill", message: `${nameOrId} still runs after SIGKILL` })
  })

  return {
    image: sandboxImage,
    run,
    pause: (nameOrId) => Effect.asVoid(docker(["pause", nameOrId], "pause")),
    unpause: (nameOrId) => Effect.asVoid(docker(["unpause", nameOrId], "unpause")),
    exec: (nameOrId, command) => dockerExec(socketPath, directory, nameOrId, command),
    kill,
    rename: (nameOrId, newName) => Effect.asVoid(docker(["rename", nameOrId, newName], "rename")),
    remove: (nameOrId) => Effect.asVoid(docker(["rm", "--force", nameOrId], "remove")),
    inspect: (nameOrId) =>
      Effect.map(docker(["inspect", "--type", "container", nameOrId], "inspect"), (out) => (JSON.parse(out) as Array<unknown>)[0]),
    docker: (args) => docker(args)
  }
}
