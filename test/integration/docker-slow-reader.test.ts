/**
 * A subscriber that stalls must not cost an event on a REAL dockerd. dockerd keeps at most 1024
 * events per listener (beyond what the socket buffers hold) and skips a listener that takes longer
 * than 100 ms to accept one, without telling anyone. A dozen events never overflow that, so this
 * test makes more events than dockerd buffers, with big labels so that the socket buffers hold few
 * of them, while the subscriber does not read: only a client that keeps reading into its own
 * queue delivers every one of them afterwards.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Schedule, Stream } from "effect"
import { HttpClient } from "effect/http"
import { DockerEngine, UnixSocketHttpClient } from "../../src/docker/index.ts"
import { EngineClient } from "../../src/index.ts"
import { DockerSandbox } from "../../src/testing/index.ts"
import { eventually } from "../eventually.ts"

/** More pause/unpause pairs than dockerd's 1024-event buffer per listener holds. */
const pairs = 600

/** Labels of about 32 KB: they are part of every event, so a few events fill the socket buffers. */
const bulkyLabels = Object.fromEntries(Array.from({ length: 8 }, (_, n) => [`bulk${n}`, "x".repeat(4096)]))

layer(DockerSandbox.layer(), { excludeTestServices: true, timeout: "240 seconds" })(
  "a stalled subscriber on a real dockerd",
  (it) => {
    it.effect("gets every event once it reads again, more than dockerd buffers for it", () =>
      Effect.gen(function*() {
        const sandbox = yield* DockerSandbox.DockerSandbox
        const { id } = yield* sandbox.run({ name: "bulky", labels: bulkyLabels })
        const engine = yield* Effect.map(
          Layer.build(DockerEngine.layerConfig({ address: sandbox.socketPath })),
          (context) => Context.get(context, EngineClient.EngineClient)
        )
        const events = yield* engine.subscribe
        const release = yield* Deferred.make<void>()
        let seen = 0
        let made = 0
        let renamed = false
        // Stalls on the first event until every change was made, then counts.
        yield* events.pipe(
          Stream.filter((event) => event.id === id),
          Stream.runForEach((event) =>
            Effect.andThen(
              Deferred.await(release),
              Effect.sync(() => {
                if (event._tag === "Paused" || event._tag === "Unpaused") seen++
                if (event._tag === "Updated" && event.name === "bulky-done") renamed = true
              })
            )
          ),
          Effect.forkScoped
        )
        // Straight through the API: a docker CLI process per change would make this test minutes long.
        const api = yield* Effect.map(
          Layer.build(UnixSocketHttpClient.layer(sandbox.socketPath)),
          (context) => Context.get(context, HttpClient.HttpClient)
        )
        // dockerd sends an event for each change it answers with 204, and at times one more: when
        // containerd's late report of a pause reaches it after the unpause, it marks the container
        // paused again (then answers 409 or 500 to the next change: try again, shortly after).
        const change = (action: "pause" | "unpause") =>
          Effect.flatMap(api.post(`http://docker/containers/${id}/${action}`), (response) =>
            response.status === 204
              ? Effect.sync(() => made++)
              : Effect.flatMap(response.text, (text) => Effect.fail(`${action}: ${response.status} ${text}`))).pipe(
              Effect.retry({ times: 20, schedule: Schedule.spaced("20 millis") }),
              Effect.orDie
            )
        for (let n = 0; n < pairs; n++) {
          yield* change("pause")
          yield* change("unpause")
        }
        // The last change, sent while the subscriber still stalls: a listener dockerd skipped misses it.
        yield* sandbox.rename(id, "bulky-done")
        yield* Deferred.succeed(release, undefined)
        assert.strictEqual(made, 2 * pairs)
        yield* eventually(
          () => seen >= made && renamed,
          () => `every pause and unpause, then the rename, reached the stalled subscriber: ${seen} of ${made} seen, renamed: ${renamed}`,
          60_000
        )
        yield* sandbox.remove(id)
      }).pipe(Effect.scoped))
  }
)
