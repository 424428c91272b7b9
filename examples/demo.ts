/**
 * The main job, `npm run demo`: a live watcher view on a real engine — containerd by default,
 * Docker with `--engine docker`, Podman with `--engine podman`.
 *
 * - With `--address PATH` (or CONTAINERD_ADDRESS, DOCKER_HOST, CONTAINER_HOST): watches that
 *   engine until Ctrl-C.
 * - Otherwise: starts a private, throwaway engine (needs root and the engine's Debian packages:
 *   containerd, runc and busybox-static; for Docker also docker.io, for Podman podman), sets up a
 *   small scene — a compose project of three containers (one paused), one container of no project
 *   and, on containerd, one in `moby` that must never show — watches it, changes the scene a few
 *   times so you see the events arrive, and tears everything down (also on Ctrl-C). `--forever`
 *   keeps watching after the scene.
 *
 *   npm run demo [-- --json] [-- --forever] [-- --engine docker] [-- --address /run/containerd/containerd.sock]
 */
import process from "node:process"
import { Console, Effect, Fiber, Layer } from "effect"
import { Watcher } from "../src/index.ts"
import { ContainerdSandbox, DockerSandbox, PodmanSandbox } from "../src/testing/index.ts"
import { engineLayer, type EngineKind, exampleFlags, runExample } from "./support.ts"
import { watchView } from "./watchView.ts"

const flags = exampleFlags()
const variables: Record<EngineKind, string> = {
  containerd: "CONTAINERD_ADDRESS",
  docker: "DOCKER_HOST",
  podman: "CONTAINER_HOST"
}
const givenAddress = flags.address ?? process.env[variables[flags.engine]]

/** Says what the scene does next (on stderr with --json, so stdout stays JSON lines). */
const narrate = (text: string) => (flags.json ? Console.error(`▶ ${text}`) : Console.log(`▶ ${text}`))

const pause = Effect.sleep("1500 millis")

type Step = readonly [what: string, step: Effect.Effect<unknown, ContainerdSandbox.SandboxError>]

/**
 * Watches the engine at `socketPath` while the steps run, one every 1.5 s; then ends, or with
 * `--forever` keeps watching.
 */
const play = (
  engine: EngineKind,
  socketPath: string,
  steps: ReadonlyArray<Step>
): Effect.Effect<void, ContainerdSandbox.SandboxError> =>
  Effect.gen(function*() {
    const watcher = Watcher.layer().pipe(Layer.provide(engineLayer({ engine, address: socketPath })))
    const view = yield* watchView({ json: flags.json }).pipe(Effect.provide(watcher), Effect.forkChild)
    yield* Effect.sleep("1 second")
    for (const [what, step] of steps) {
      yield* narrate(what)
      yield* step
      yield* pause
    }
    if (flags.forever) {
      yield* narrate("the scene is done; still watching, Ctrl-C ends and tears it all down")
      return yield* Fiber.join(view).pipe(Effect.orDie)
    }
    yield* narrate("the scene is done; tearing it all down")
    yield* Fiber.interrupt(view)
  })

const shop = (name: string) => ({ "nerdctl/name": name, "com.docker.compose.project": "shop" })

const containerdScene = Effect.gen(function*() {
  const sandbox = yield* ContainerdSandbox.ContainerdSandbox
  yield* narrate(`private containerd at ${sandbox.socketPath}; setting the scene`)
  yield* sandbox.run({ id: "shop-web", namespace: "demo", labels: shop("web") })
  yield* sandbox.run({ id: "shop-api", namespace: "demo", labels: shop("api") })
  yield* sandbox.run({ id: "shop-db", namespace: "demo", labels: shop("db") })
  yield* sandbox.pause("demo", "shop-db")
  yield* sandbox.run({ id: "hello", namespace: "default", labels: { "nerdctl/name": "hello" } })
  yield* sandbox.run({ id: "docker-thing", namespace: "moby" })
  yield* play("containerd", sandbox.socketPath, [
    ["a worker joins the shop", sandbox.run({ id: "shop-worker", namespace: "demo", labels: shop("worker") })],
    ["the database resumes", sandbox.resume("demo", "shop-db")],
    [
      "a process exec'd in web exits with 3 (not a container exit: no event)",
      sandbox.exec({ namespace: "demo", id: "shop-web", command: ["/bin/sh", "-c", "exit 3"] })
    ],
    ["hello is relabelled into project 'greetings'", sandbox.label("default", "hello", { "com.docker.compose.project": "greetings" })],
    ["the api is killed", sandbox.kill("demo", "shop-api")],
    ["web is paused", sandbox.pause("demo", "shop-web")],
    ["docker starts something in moby (ignored: never shown)", sandbox.run({ id: "docker-other", namespace: "moby" })]
  ])
}).pipe(Effect.provide(ContainerdSandbox.layer()))

/** The same scene on a Docker Engine API daemon: Docker cannot relabel, so hello is renamed. */
const dockerScene = (
  engine: "docker" | "podman",
  sandbox: DockerSandbox.EngineSandboxOperations & { readonly socketPath: string; readonly directory: string }
) =>
  Effect.gen(function*() {
    const project = { "com.docker.compose.project": "shop" }
    yield* narrate(`private ${engine === "docker" ? "dockerd" : "podman service"} at ${sandbox.socketPath}; setting the scene`)
    yield* sandbox.run({ name: "shop-web", labels: project })
    yield* sandbox.run({ name: "shop-api", labels: project })
    yield* sandbox.run({ name: "shop-db", labels: project })
    yield* sandbox.pause("shop-db")
    yield* sandbox.run({ name: "hello" })
    yield* play(engine, sandbox.socketPath, [
      ["a worker joins the shop", sandbox.run({ name: "shop-worker", labels: project })],
      ["the database resumes", sandbox.unpause("shop-db")],
      ["a process exec'd in web exits with 3 (not a container exit: no event)", sandbox.exec("shop-web", ["/bin/sh", "-c", "exit 3"])],
      ["hello is renamed to 'hi'", sandbox.rename("hello", "hi")],
      ["the api is killed", sandbox.kill("shop-api")],
      ["web is paused", sandbox.pause("shop-web")]
    ])
  })

const scene = flags.engine === "containerd"
  ? containerdScene
  : flags.engine === "docker"
  ? Effect.flatMap(DockerSandbox.DockerSandbox, (sandbox) => dockerScene("docker", sandbox)).pipe(
    Effect.provide(DockerSandbox.layer())
  )
  : Effect.flatMap(PodmanSandbox.PodmanSandbox, (sandbox) => dockerScene("podman", sandbox)).pipe(
    Effect.provide(PodmanSandbox.layer())
  )

const watchGiven = (address: string) =>
  watchView({ json: flags.json }).pipe(
    Effect.provide(Watcher.layer().pipe(Layer.provide(engineLayer({ engine: flags.engine, address }))))
  )

runExample(givenAddress === undefined || givenAddress === "" ? scene : watchGiven(givenAddress))
