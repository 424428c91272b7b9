import { setTimeout as sleep } from "node:timers/promises"
import { create, toBinary } from "@bufbuild/protobuf"
import { Code } from "@connectrpc/connect"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Metric, Stream } from "effect"
import { TaskExitSchema, TaskStartSchema } from "../../gen/containerd/events/task_pb.ts"
import { Status } from "../../gen/containerd/types/task_pb.ts"
import {
  ContainerdEngine,
  ContainerdEnricher,
  LabelMapping,
  NamespaceFilter
} from "../../src/containerd/index.ts"
import { subscribeFilters } from "../../src/containerd/internal/events.ts"
import type { Container, ContainerEvent } from "../../src/index.ts"
import { EngineClient } from "../../src/index.ts"
import { FakeContainerd } from "../../src/testing/index.ts"
import { eventually } from "../eventually.ts"
import { shopScene } from "./shopScene.ts"

/** The engine over a fake containerd, with the default filter and mapping unless replaced. */
const engineLayer = (
  fake: FakeContainerd.FakeContainerd,
  options: {
    readonly filter?: Layer.Layer<NamespaceFilter.NamespaceFilter>
    readonly mapping?: Layer.Layer<LabelMapping.LabelMapping>
    readonly enricher?: Layer.Layer<ContainerdEnricher.ContainerdEnricher>
    readonly engine?: ContainerdEngine.ContainerdEngineOptions
  } = {}
) =>
  ContainerdEngine.layer(options.engine).pipe(
    Layer.provide(FakeContainerd.layer(fake)),
    Layer.provide(options.filter ?? NamespaceFilter.layer),
    Layer.provide(options.mapping ?? LabelMapping.layer),
    Layer.provide(options.enricher ?? Layer.empty)
  )

const engine = EngineClient.EngineClient

const byId = (containers: ReadonlyArray<Container.Container>) =>
  Object.fromEntries(containers.map((container) => [container.id, container]))

/** A fake with one alive container in each of several namespaces, and some that are not alive. */
const populatedFake = () => {
  const fake = shopScene()
  fake.addContainer({ namespace: "shop", id: "cache" })
  fake.startTask({ namespace: "shop", id: "cache", pid: 103 })
  fake.setTaskStatus({ namespace: "shop", id: "cache", status: Status.PAUSING })
  fake.addContainer({ namespace: "shop", id: "created" })
  fake.createTask({ namespace: "shop", id: "created", pid: 104 })
  fake.addContainer({ namespace: "shop", id: "stopped" })
  fake.startTask({ namespace: "shop", id: "stopped", pid: 105 })
  fake.exitTask({ namespace: "shop", id: "stopped", exitStatus: 1 })
  fake.addContainer({ namespace: "shop", id: "notask" })
  fake.addContainer({ namespace: "lab", id: "unknown" })
  fake.startTask({ namespace: "lab", id: "unknown", pid: 106 })
  fake.setTaskStatus({ namespace: "lab", id: "unknown", status: Status.UNKNOWN })
  for (const namespace of NamespaceFilter.DefaultIgnoredNamespaces) {
    fake.addContainer({ namespace, id: `in-${namespace}` })
    fake.startTask({ namespace, id: `in-${namespace}`, pid: 200 })
  }
  return fake
}

describe("ContainerdEngine.list", () => {
  it.effect("lists alive containers across namespaces with names, projects, labels and paused state", () => {
    const fake = populatedFake()
    return Effect.gen(function*() {
      const containers = byId(yield* (yield* engine).list)
      assert.deepStrictEqual(Object.keys(containers).sort(), ["lab/unknown", "shop/cache", "shop/db", "web"])
      assert.deepStrictEqual(containers["web"], {
        id: "web",
        name: "frontend",
        labels: { "nerdctl/name": "frontend", "com.docker.compose.project": "shop", tier: "front" },
        pid: 101,
        project: "shop",
        paused: false,
        namespace: "default"
      })
      assert.strictEqual(containers["shop/db"]!.name, "shop/database")
      assert.isTrue(containers["shop/db"]!.paused, "PAUSED is paused")
      assert.isTrue(containers["shop/cache"]!.paused, "PAUSING is paused")
      assert.strictEqual(containers["shop/cache"]!.name, "shop/cache", "no name label: the display ID")
      assert.deepStrictEqual(containers["shop/cache"]!.labels, {}, "labels are never null")
      assert.strictEqual(containers["shop/cache"]!.project, "")
      assert.isFalse(containers["lab/unknown"]!.paused, "UNKNOWN with a PID is alive")
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("costs 1 + 2 × namespaces RPCs, however many containers", () => {
    const fake = FakeContainerd.make()
    for (let n = 0; n < 50; n++) {
      const namespace = `ns${n % 5}`
      fake.addContainer({ namespace, id: `c${n}` })
      fake.startTask({ namespace, id: `c${n}`, pid: 1000 + n })
    }
    fake.addContainer({ namespace: "moby", id: "docker" })
    return Effect.gen(function*() {
      const containers = yield* (yield* engine).list
      assert.strictEqual(containers.length, 50)
      assert.strictEqual(fake.callCount(), 1 + 2 * 5)
      assert.strictEqual(fake.callCount("Containers.ListStream"), 5)
      assert.strictEqual(fake.callCount("Tasks.List"), 5)
      assert.isFalse(fake.calls.some((call) => call.namespace === "moby"), "ignored namespaces cost nothing")
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("falls back to Containers.List where ListStream is UNIMPLEMENTED, and remembers it", () => {
    const fake = populatedFake()
    fake.failNext("Containers.ListStream", Code.Unimplemented, "unknown method ListStream")
    return Effect.gen(function*() {
      const client = yield* engine
      const first = yield* client.list
      assert.deepStrictEqual(first.map((c) => c.id).sort(), ["lab/unknown", "shop/cache", "shop/db", "web"])
      // Namespaces are listed concurrently: each may have tried the stream once.
      const streamsAfterFirst = fake.callCount("Containers.ListStream")
      assert.isAtLeast(fake.callCount("Containers.List"), 1)
      yield* client.list
      assert.strictEqual(fake.callCount("Containers.ListStream"), streamsAfterFirst, "not asked again")
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("other ListStream failures are not taken for a missing method", () => {
    const fake = populatedFake()
    fake.failNext("Containers.ListStream", Code.PermissionDenied, "no")
    return Effect.gen(function*() {
      const error = yield* Effect.flip((yield* engine).list)
      assert.strictEqual(error._tag, "EngineRequestError")
      assert.strictEqual(fake.callCount("Containers.List"), 0)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("a record too large for a message fails neither the list nor the others: kept without labels", () => {
    const fake = FakeContainerd.make()
    for (const [id, pid] of [["a", 1], ["b", 2], ["c", 3]] as const) {
      fake.addContainer({ namespace: "default", id, labels: { "nerdctl/name": `name-${id}` } })
      fake.startTask({ namespace: "default", id, pid })
    }
    // The stream ends at the huge record (here: the first); its own Get fails the same way.
    fake.failNext("Containers.ListStream", Code.ResourceExhausted, "grpc: trying to send message larger than max")
    fake.failNext("Containers.Get", Code.ResourceExhausted, "grpc: trying to send message larger than max")
    return Effect.gen(function*() {
      const listed = (yield* (yield* engine).list).map((c) => [c.pid, c.name]).sort()
      assert.strictEqual(listed.length, 3)
      assert.strictEqual(listed.filter(([, name]) => String(name).startsWith("name-")).length, 2)
      assert.deepStrictEqual(listed.map(([pid]) => pid), [1, 2, 3])
      assert.strictEqual(fake.callCount("Containers.Get"), 3)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("a task whose container was created after Containers.List is fetched on its own", () => {
    const fake = FakeContainerd.make()
    fake.addNamespace("default")
    // Containers.List is answered first; the container and its task appear before Tasks.List is.
    fake.onCall("Tasks.List", () =>
      sleep(5).then(() => {
        fake.addContainer({ namespace: "default", id: "late", labels: { "nerdctl/name": "late" } })
        fake.startTask({ namespace: "default", id: "late", pid: 7 })
      }))
    return Effect.gen(function*() {
      const containers = yield* (yield* engine).list
      assert.deepStrictEqual(containers.map((c) => [c.id, c.name, c.pid]), [["late", "late", 7]])
      assert.strictEqual(fake.callCount("Containers.Get"), 1)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("NamespaceFilter layers replace, extend or restrict the ignored namespaces", () => {
    const listed = (filter: Layer.Layer<NamespaceFilter.NamespaceFilter>) =>
      Effect.gen(function*() {
        return (yield* (yield* engine).list).map((c) => c.namespace).sort()
      }).pipe(Effect.provide(engineLayer(populatedFake(), { filter })))
    return Effect.gen(function*() {
      assert.deepStrictEqual(yield* listed(NamespaceFilter.only(["lab"])), ["lab"])
      assert.deepStrictEqual(yield* listed(NamespaceFilter.ignoringAlso(["shop"])), ["default", "lab"])
      assert.deepStrictEqual(
        yield* listed(NamespaceFilter.ignoring(["shop"])),
        ["default", "k8s.io", "lab", "moby", "plugins.moby"]
      )
    })
  })

  it.effect("a custom LabelMapping names containers and projects", () =>
    Effect.gen(function*() {
      const fake = FakeContainerd.make()
      fake.addContainer({ namespace: "default", id: "a", labels: { "app.name": "alpha", "app.stack": "greek" } })
      fake.startTask({ namespace: "default", id: "a", pid: 1 })
      const [container] = yield* Effect.flatMap(engine, (e) => e.list).pipe(
        Effect.provide(engineLayer(fake, {
          mapping: LabelMapping.fromLabels({ nameLabel: "app.name", projectLabel: "app.stack" })
        }))
      )
      assert.strictEqual(container!.name, "alpha")
      assert.strictEqual(container!.project, "greek")
    }))

  it.effect("fails with a typed error naming the address when containerd fails", () => {
    const fake = populatedFake()
    fake.failNext("Tasks.List", Code.Unavailable, "going down")
    return Effect.gen(function*() {
      const error = yield* Effect.flip((yield* engine).list)
      assert.strictEqual(error._tag, "EngineUnavailable")
      assert.include(error.message, "fake://containerd")
    }).pipe(Effect.provide(engineLayer(fake)))
  })
})

describe("ContainerdEngine.inspect", () => {
  it.effect("by display ID and by name, in default and other namespaces", () => {
    const fake = populatedFake()
    return Effect.gen(function*() {
      const client = yield* engine
      assert.strictEqual((yield* client.inspect("web")).pid, 101)
      assert.strictEqual((yield* client.inspect("frontend")).id, "web")
      assert.strictEqual((yield* client.inspect("shop/db")).name, "shop/database")
      assert.strictEqual((yield* client.inspect("shop/database")).id, "shop/db")
      assert.isTrue((yield* client.inspect("shop/database")).paused)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("a container without a live initial process is ProcesslessContainer", () => {
    const fake = populatedFake()
    return Effect.gen(function*() {
      const client = yield* engine
      for (const id of ["shop/created", "shop/stopped", "shop/notask"]) {
        const error = yield* Effect.flip(client.inspect(id))
        assert.strictEqual(error._tag, "ProcesslessContainer", id)
        if (error._tag === "ProcesslessContainer") assert.strictEqual(error.id, id)
      }
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("unknown names, and containers in ignored namespaces, are ContainerNotFound", () => {
    const fake = populatedFake()
    return Effect.gen(function*() {
      const client = yield* engine
      for (const nameOrId of ["nope", "shop/nope", "moby/in-moby", "k8s.io/in-k8s.io", ""]) {
        const error = yield* Effect.flip(client.inspect(nameOrId))
        assert.strictEqual(error._tag, "ContainerNotFound", nameOrId)
        if (error._tag === "ContainerNotFound") assert.strictEqual(error.nameOrId, nameOrId)
      }
      assert.isFalse(fake.calls.some((call) => call.namespace === "moby" || call.namespace === "k8s.io"))
      // and the same container would be found in an allowed namespace
      fake.addContainer({ namespace: "allowed", id: "in-moby" })
      fake.startTask({ namespace: "allowed", id: "in-moby", pid: 9 })
      assert.strictEqual((yield* client.inspect("allowed/in-moby")).pid, 9)
    }).pipe(Effect.provide(engineLayer(fake)))
  })
})

describe("ContainerdEngine.inspect by name, against the names the engine knows", () => {
  it.effect("a name with a slash in default is found; hostile names are ContainerNotFound and never sent", () => {
    const fake = populatedFake()
    fake.addContainer({ namespace: "default", id: "front1", labels: { "nerdctl/name": "web/front" } })
    fake.startTask({ namespace: "default", id: "front1", pid: 301 })
    fake.addContainer({ namespace: "default", id: "spaced", labels: { "nerdctl/name": "a b/x" } })
    fake.startTask({ namespace: "default", id: "spaced", pid: 302 })
    return Effect.gen(function*() {
      const client = yield* engine
      assert.strictEqual((yield* client.inspect("web/front")).id, "front1")
      assert.strictEqual((yield* client.inspect("a b/x")).pid, 302)
      for (const nameOrId of ["a b/nope", "bad\x01name", "x\x01/y", "ns\r\n/evil", "web/front/deeper"]) {
        const error = yield* Effect.flip(client.inspect(nameOrId))
        assert.strictEqual(error._tag, "ContainerNotFound", JSON.stringify(nameOrId))
      }
      // every namespace header sent is a containerd identifier: user input never went into one
      for (const call of fake.calls) assert.match(call.namespace ?? "default", /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/)
    }).pipe(Effect.provide(engineLayer(fake)))
  })
})

describe("ContainerdEngine enrichment", () => {
  it.effect("runs on list, inspect and started containers, with containerd's details", () => {
    const fake = populatedFake()
    const seen: Array<string> = []
    const enricher = ContainerdEnricher.layer((container, details) =>
      Effect.sync(() => {
        seen.push(container.id)
        return { image: details.container.image, status: Status[details.task.status], namespace: details.namespace }
      })
    )
    return Effect.gen(function*() {
      const client = yield* engine
      const listed = byId(yield* client.list)
      assert.deepStrictEqual(listed["shop/db"]!.enrichment, { image: "", status: "PAUSED", namespace: "shop" })
      assert.deepStrictEqual((yield* client.inspect("web")).enrichment, { image: "", status: "RUNNING", namespace: "default" })
      fake.addContainer({ namespace: "default", id: "new" })
      const started = yield* client.resolveStarted({
        _tag: "Started",
        id: "new",
        namespace: "default",
        pid: 77,
        timestamp: (yield* Effect.clockWith((clock) => Effect.succeed(clock))).currentTimeMillisUnsafe() as never
      })
      assert.strictEqual(started.pid, 77)
      assert.deepStrictEqual(started.enrichment, { image: "", status: "RUNNING", namespace: "default" })
      assert.includeMembers(seen, ["shop/db", "web", "new"])
    }).pipe(Effect.provide(engineLayer(fake, { enricher })))
  })

  it.effect("a failing enricher keeps the container, without enrichment", () => {
    const fake = populatedFake()
    const enricher = ContainerdEnricher.layer(() => Effect.die(new Error("enricher bug")))
    return Effect.gen(function*() {
      const containers = yield* (yield* engine).list
      assert.strictEqual(containers.length, 4)
      assert.isFalse(containers.some((c) => "enrichment" in c))
    }).pipe(Effect.provide(engineLayer(fake, { enricher })))
  })
})

describe("ContainerdEngine.resolveStarted", () => {
  it.effect("costs one Containers.Get and takes the PID from the event", () => {
    const fake = FakeContainerd.make()
    fake.addContainer({ namespace: "shop", id: "web", labels: { "nerdctl/name": "web", "com.docker.compose.project": "p" } })
    return Effect.gen(function*() {
      const client = yield* engine
      const before = fake.callCount()
      const container = yield* client.resolveStarted({
        _tag: "Started",
        id: "shop/web",
        namespace: "shop",
        pid: 4242,
        timestamp: undefined as never
      })
      assert.deepStrictEqual(container, {
        id: "shop/web",
        name: "shop/web",
        labels: { "nerdctl/name": "web", "com.docker.compose.project": "p" },
        pid: 4242,
        project: "p",
        paused: false,
        namespace: "shop"
      })
      assert.deepStrictEqual(fake.calls.slice(before), [{ method: "Containers.Get", namespace: "shop" }])
      const gone = yield* Effect.flip(client.resolveStarted({ _tag: "Started", id: "shop/gone", namespace: "shop", pid: 1, timestamp: undefined as never }))
      assert.strictEqual(gone._tag, "ContainerNotFound")
    }).pipe(Effect.provide(engineLayer(fake)))
  })
})

/** Subscribes, then runs `drive` once live; collects the first `count` events. */
const collect = (count: number, drive: () => void) =>
  Effect.gen(function*() {
    const client = yield* engine
    const events = yield* client.subscribe
    const fiber = yield* events.pipe(Stream.take(count), Stream.runCollect, Effect.forkChild)
    drive()
    return yield* Fiber.join(fiber)
  }).pipe(Effect.scoped)

const summary = (event: ContainerEvent.ContainerEvent) => {
  switch (event._tag) {
    case "Started":
      return `started ${event.id} pid ${event.pid}`
    case "Exited":
      return `exited ${event.id} pid ${event.pid} status ${event.exitStatus}`
    case "Updated":
      return `updated ${event.id} ${event.name} ${event.project}`
    default:
      return `${event._tag.toLowerCase()} ${event.id}`
  }
}

describe("ContainerdEngine.subscribe", () => {
  it.live("decodes start, pause, resume, label update and init exit, with engine timestamps", () => {
    const fake = FakeContainerd.make()
    fake.addContainer({ namespace: "shop", id: "web" })
    return Effect.gen(function*() {
      const events = yield* collect(5, () => {
        fake.startTask({ namespace: "shop", id: "web", pid: 11 })
        fake.pauseTask({ namespace: "shop", id: "web" })
        fake.resumeTask({ namespace: "shop", id: "web" })
        fake.setLabels({ namespace: "shop", id: "web", labels: { "nerdctl/name": "www", "com.docker.compose.project": "p" } })
        fake.exitTask({ namespace: "shop", id: "web", exitStatus: 137 })
      })
      assert.deepStrictEqual(events.map(summary), [
        "started shop/web pid 11",
        "paused shop/web",
        "unpaused shop/web",
        "updated shop/web shop/www p",
        "exited shop/web pid 11 status 137"
      ])
      for (const event of events) {
        assert.strictEqual(event.namespace, "shop")
        assert.isTrue(Math.abs(event.timestamp.epochMilliseconds - Date.now()) < 10_000)
      }
      const updated = events[3]
      assert.deepStrictEqual(updated?._tag === "Updated" && updated.labels, { "nerdctl/name": "www", "com.docker.compose.project": "p" })
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.live("an exec'd process's exit is never a container exit (skipped and counted)", () => {
    const fake = FakeContainerd.make()
    fake.addContainer({ namespace: "default", id: "web" })
    fake.startTask({ namespace: "default", id: "web", pid: 5 })
    return Effect.gen(function*() {
      const events = yield* collect(1, () => {
        fake.execExit({ namespace: "default", id: "web", execId: "x1", pid: 6, exitStatus: 3 })
        fake.pauseTask({ namespace: "default", id: "web" })
      })
      assert.deepStrictEqual(events.map(summary), ["paused web"])
      assert.strictEqual((yield* (yield* ContainerdEngineService).skippedEvents)["exec-exit"], 1)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.live("skips are counted in effect Metric counters; each engine reads the counts since it was made", () => {
    const fake = FakeContainerd.make()
    fake.addContainer({ namespace: "default", id: "web" })
    fake.startTask({ namespace: "default", id: "web", pid: 5 })
    const registry: Metric.MetricRegistry = new Map()
    const skipOneExecExit = Effect.gen(function*() {
      yield* collect(1, () => {
        fake.execExit({ namespace: "default", id: "web", execId: "x", pid: 6, exitStatus: 0 })
        fake.pauseTask({ namespace: "default", id: "web" })
      })
      return yield* (yield* ContainerdEngineService).skippedEvents
    }).pipe(Effect.provide(engineLayer(fake)), Effect.provideService(Metric.MetricRegistry, registry))
    const series = () =>
      Metric.snapshotUnsafe(Context.make(Metric.MetricRegistry, registry))
        .filter((metric) => metric.id === "effect_whalewatcher_skipped_events")
        .map((metric): Record<string, string | number> => ({ ...metric.attributes, count: (metric.state as Metric.CounterState<number>).count }))
    return Effect.gen(function*() {
      assert.deepStrictEqual((yield* skipOneExecExit)["exec-exit"], 1)
      // a second engine on the same address: its own count, the metric's total
      assert.deepStrictEqual(yield* skipOneExecExit, { ignored: 0, "exec-exit": 1, unknown: 0, garbled: 0 })
      assert.deepStrictEqual(
        series().find((metric) => metric.reason === "exec-exit"),
        { engine: ContainerdEngine.Type, api: "fake://containerd", reason: "exec-exit", count: 2 }
      )
      assert.deepStrictEqual(series().map((metric) => metric.reason).sort(), ["exec-exit", "garbled", "ignored", "unknown"])
    })
  })

  it.live("an exit with an empty process id is the init process's", () => {
    const fake = FakeContainerd.make()
    return Effect.gen(function*() {
      const events = yield* collect(1, () =>
        fake.publish("default", "/tasks/exit", TaskExitSchema, { containerId: "web", id: "", pid: 5 }))
      assert.deepStrictEqual(events.map(summary), ["exited web pid 5 status 0"])
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.live("garbled and unknown payloads are skipped and counted; the stream goes on", () => {
    const fake = FakeContainerd.make()
    fake.addContainer({ namespace: "default", id: "web" })
    return Effect.gen(function*() {
      const events = yield* collect(1, () => {
        fake.publishRaw("default", "/tasks/start", { $typeName: "google.protobuf.Any", typeUrl: "containerd.events.TaskStart", value: new Uint8Array([0xff, 0xff, 0xff]) })
        fake.publishRaw("default", "/tasks/start", { $typeName: "google.protobuf.Any", typeUrl: "containerd.events.Mystery", value: new Uint8Array() })
        fake.publishRaw("default", "/tasks/start", {
          $typeName: "google.protobuf.Any",
          typeUrl: "type.googleapis.com/containerd.events.TaskStart",
          value: toBinary(TaskStartSchema, create(TaskStartSchema, { containerId: "web", pid: 3 }))
        })
      })
      assert.deepStrictEqual(events.map(summary), ["started web pid 3"], "a prefixed type URL decodes too")
      const skipped = yield* (yield* ContainerdEngineService).skippedEvents
      assert.strictEqual(skipped.garbled, 1)
      assert.strictEqual(skipped.unknown, 1)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.live("events of ignored namespaces never arrive, also with a filter that cannot filter on the server", () => {
    const fake = FakeContainerd.make()
    const predicateOnly: NamespaceFilter.NamespaceFilterShape = { allows: (namespace) => namespace !== "moby" }
    return Effect.gen(function*() {
      const events = yield* collect(1, () => {
        fake.addContainer({ namespace: "moby", id: "docker" })
        fake.startTask({ namespace: "moby", id: "docker", pid: 1 })
        fake.addContainer({ namespace: "allowed", id: "docker" })
        fake.startTask({ namespace: "allowed", id: "docker", pid: 2 })
      })
      assert.deepStrictEqual(events.map(summary), ["started allowed/docker pid 2"])
      assert.strictEqual((yield* (yield* ContainerdEngineService).skippedEvents).ignored, 1)
    }).pipe(Effect.provide(engineLayer(fake, { filter: Layer.succeed(NamespaceFilter.NamespaceFilter, predicateOnly) })))
  })

  it.live("returns only once live: a change made right after subscribe is never missed", () => {
    const fake = FakeContainerd.make()
    // Hold the subscription back on the server for a while, as a slow containerd would.
    fake.onCall("Events.Subscribe", () => sleep(50))
    fake.addContainer({ namespace: "default", id: "web" })
    return Effect.gen(function*() {
      const events = yield* collect(1, () => fake.startTask({ namespace: "default", id: "web", pid: 1 }))
      assert.deepStrictEqual(events.map(summary), ["started web pid 1"])
      // the markers published while the server held the subscription back were lost: it published again
      assert.isAtLeast(fake.callCount("Events.Publish"), 2)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.live("without the marker it waits the settle time and publishes nothing", () => {
    const fake = FakeContainerd.make()
    fake.addContainer({ namespace: "default", id: "web" })
    return Effect.gen(function*() {
      const events = yield* collect(1, () => fake.startTask({ namespace: "default", id: "web", pid: 1 }))
      assert.deepStrictEqual(events.map(summary), ["started web pid 1"])
      assert.strictEqual(fake.callCount("Events.Publish"), 0)
    }).pipe(Effect.provide(engineLayer(fake, { engine: { syncMarker: false, subscribeSettle: "20 millis" } })))
  })

  it.live("a dropped stream fails with EngineUnavailable; closing the scope ends the subscription", () => {
    const fake = FakeContainerd.make()
    return Effect.gen(function*() {
      const client = yield* engine
      const error = yield* Effect.gen(function*() {
        const events = yield* client.subscribe
        assert.strictEqual(fake.subscriberCount, 1)
        const fiber = yield* events.pipe(Stream.runDrain, Effect.flip, Effect.forkChild)
        fake.dropSubscriptions(Code.Unavailable, "connection reset")
        return yield* Fiber.join(fiber)
      }).pipe(Effect.scoped)
      assert.strictEqual(error._tag, "EngineUnavailable")

      yield* Effect.scoped(client.subscribe)
      yield* eventually(() => fake.subscriberCount === 0, "the server-side subscription ended")
    }).pipe(Effect.provide(engineLayer(fake)))
  })
})

describe("ContainerdEngine identity", () => {
  it.effect("type, api, id, version and pid", () => {
    const fake = FakeContainerd.make()
    fake.pid = 4321
    return Effect.gen(function*() {
      const client = yield* engine
      assert.strictEqual(client.type, "containerd.io")
      assert.strictEqual(ContainerdEngine.Type, "containerd.io")
      assert.strictEqual(client.api, "fake://containerd")
      assert.strictEqual(yield* client.id, fake.uuid)
      assert.strictEqual(yield* client.version, "1.6.20-fake fake")
      assert.strictEqual(yield* client.pid, 4321)
    }).pipe(Effect.provide(engineLayer(fake)))
  })

  it.effect("an explicit engine PID wins", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* (yield* engine).pid, 99)
    }).pipe(Effect.provide(engineLayer(FakeContainerd.make(), { engine: { enginePid: 99 } }))))
})

describe("subscribe filters", () => {
  it("quote every value and AND namespace exclusions to each topic", () => {
    assert.deepStrictEqual(subscribeFilters(["/tasks/start", "/tasks/exit"], { ignored: ["moby", "k8s.io"] }), [
      "topic==\"/tasks/start\",namespace!=\"moby\",namespace!=\"k8s.io\"",
      "topic==\"/tasks/exit\",namespace!=\"moby\",namespace!=\"k8s.io\""
    ])
    assert.deepStrictEqual(subscribeFilters(["/tasks/start"], { only: ["a", "b"] }), [
      "topic==\"/tasks/start\",namespace==\"a\"",
      "topic==\"/tasks/start\",namespace==\"b\""
    ])
    assert.deepStrictEqual(subscribeFilters(["/tasks/start"], {}), ["topic==\"/tasks/start\""])
  })
})

/** The engine service with its containerd specifics (skipped-event counters). */
const ContainerdEngineService = Effect.map(
  EngineClient.EngineClient,
  (client) => client as ContainerdEngine.ContainerdEngineShape
)


