/**
 * The main job, `npm run demo`: a live watcher view on a real containerd.
 *
 * - With `--address PATH` or CONTAINERD_ADDRESS: watches that engine until Ctrl-C.
 * - Otherwise: starts a private, throwaway containerd (installing Debian's containerd, runc and
 *   busybox-static when missing; needs root), sets up a small scene — a compose project of three
 *   containers with nerdctl names (one paused), one container in `default`, one in `moby` that
 *   must never show — watches it, changes the scene a few times so you see the events arrive, and
 *   tears everything down (also on Ctrl-C). `--forever` keeps watching after the scene.
 *
 *   npm run demo [-- --json] [-- --forever] [-- --address /run/containerd/containerd.sock]
 */
import process from "node:process"
import { Console, Effect, Fiber, Layer } from "effect"
import { ContainerdEngine } from "../src/containerd/index.ts"
import { Watcher } from "../src/index.ts"
import { ContainerdSandbox } from "../src/testing/index.ts"
import { addressFromArgs, hasFlag, runExample } from "./support.ts"
import { watchView } from "./watchView.ts"

const json = hasFlag("--json")
const givenAddress = addressFromArgs() ?? process.env["CONTAINERD_ADDRESS"]

/** Says what the scene does next (on stderr with --json, so stdout stays JSON lines). */
const narrate = (text: string) => (json ? Console.error(`▶ ${text}`) : Console.log(`▶ ${text}`))

const pause = Effect.sleep("1500 millis")

const scene = Effect.gen(function*() {
  const sandbox = yield* ContainerdSandbox.ContainerdSandbox
  const shop = (name: string) => ({ "nerdctl/name": name, "com.docker.compose.project": "shop" })

  yield* narrate(`private containerd at ${sandbox.socketPath}; setting the scene`)
  yield* sandbox.run({ id: "shop-web", namespace: "demo", labels: shop("web") })
  yield* sandbox.run({ id: "shop-api", namespace: "demo", labels: shop("api") })
  yield* sandbox.run({ id: "shop-db", namespace: "demo", labels: shop("db") })
  yield* sandbox.pause("demo", "shop-db")
  yield* sandbox.run({ id: "hello", namespace: "default", labels: { "nerdctl/name": "hello" } })
  yield* sandbox.run({ id: "docker-thing", namespace: "moby" })

  const watcher = Watcher.layer().pipe(Layer.provide(ContainerdEngine.layerConfig({ address: sandbox.socketPath })))
  const view = yield* watchView({ json }).pipe(Effect.provide(watcher), Effect.forkChild)
  yield* Effect.sleep("1 second")

  const steps: ReadonlyArray<readonly [string, Effect.Effect<unknown, ContainerdSandbox.SandboxError>]> = [
    ["a worker joins the shop", sandbox.run({ id: "shop-worker", namespace: "demo", labels: shop("worker") })],
    ["the database resumes", sandbox.resume("demo", "shop-db")],
    ["a process exec'd in web exits with 3 (not a container exit: no event)", sandbox.exec({ namespace: "demo", id: "shop-web", command: ["/bin/sh", "-c", "exit 3"] })],
    ["hello is relabelled into project 'greetings'", sandbox.label("default", "hello", { "com.docker.compose.project": "greetings" })],
    ["the api is killed", sandbox.kill("demo", "shop-api")],
    ["web is paused", sandbox.pause("demo", "shop-web")],
    ["docker starts something in moby (ignored: never shown)", sandbox.run({ id: "docker-other", namespace: "moby" })]
  ]
  for (const [what, step] of steps) {
    yield* narrate(what)
    yield* step
    yield* pause
  }
  if (hasFlag("--forever")) {
    yield* narrate("the scene is done; still watching, Ctrl-C ends and tears it all down")
    return yield* Fiber.join(view)
  }
  yield* narrate("the scene is done; tearing it all down")
  yield* Fiber.interrupt(view)
}).pipe(Effect.provide(ContainerdSandbox.layer()))

const watchGiven = (address: string) =>
  watchView({ json }).pipe(
    Effect.provide(Watcher.layer().pipe(Layer.provide(ContainerdEngine.layerConfig({ address }))))
  )

runExample(givenAddress === undefined ? scene : watchGiven(givenAddress))
