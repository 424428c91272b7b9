/**
 * The container operations of the Docker and Podman sandboxes: the same `docker` command lines
 * against either daemon's socket.
 * @internal
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Effect } from "effect"
import type { ComposeProject, DockerSandboxRunOptions, EngineSandboxOperations } from "../DockerSandbox.ts"
import { attempt } from "./directory.ts"
import { dockerCli, dockerExec, sandboxImage } from "./dockerCli.ts"
import { commandFailed, runProcess } from "./process.ts"
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

  /**
   * A compose file of the project's services, each on the sandbox image with no network: JSON is
   * YAML, so no YAML writer is needed.
   */
  const composeFile = (project: ComposeProject): string =>
    JSON.stringify({
      version: "2.4",
      services: Object.fromEntries(Object.entries(project.services).map(([service, spec]) => [service, {
        image: sandboxImage,
        network_mode: "none",
        stop_grace_period: "1s",
        ...(spec.command === undefined ? {} : { command: [...spec.command] }),
        ...(spec.labels === undefined ? {} : { labels: { ...spec.labels } })
      }]))
    }, null, 2)

  const compose = (operation: string, project: ComposeProject | string, args: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const name = typeof project === "string" ? project : project.name
      const folder = nodePath.join(directory, "compose", name)
      const file = nodePath.join(folder, "docker-compose.json")
      if (typeof project !== "string") {
        yield* attempt(operation, "cannot write the compose file", async () => {
          await fs.mkdir(folder, { recursive: true })
          await fs.writeFile(file, composeFile(project))
        })
      }
      const fullArgs = ["--project-name", name, "--file", file, ...args]
      const output = yield* runProcess(operation, "docker-compose", fullArgs, {
        env: { DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: nodePath.join(directory, "cli") }
      })
      if (output.exitCode !== 0) return yield* commandFailed(operation, "docker-compose", fullArgs, output)
      return output.stdout
    })

  const composeUp = Effect.fn("EngineSandbox.composeUp")(function*(project: ComposeProject) {
    yield* compose("composeUp", project, ["up", "--detach", "--no-build"])
    const ids = (yield* compose("composeUp", project.name, ["ps", "--quiet"])).split("\n").filter((id) => id !== "")
    return ids
  })

  return {
    image: sandboxImage,
    composeUp,
    composeDown: (name) => Effect.asVoid(compose("composeDown", name, ["down", "--timeout", "1"])),
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
