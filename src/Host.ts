/**
 * One picture of every container alive on a host, over several engines at once: a
 * {@link Watcher.Watcher} per engine, each with its own retries and status, merged into one
 * list of containers (each tagged with its engine) and one event stream.
 *
 * A Docker daemon's containers also live in its containerd, in the `moby` namespace (ignored by
 * default) or in another namespace the daemon was told to use: a containerd container whose ID is
 * that of a container a Docker or Podman engine names is left out of the picture, so every
 * container shows once, under the engine that names it.
 *
 * @since 0.1.0
 */
import { Cause, Context, DateTime, Effect, HashMap, Layer, Option, PubSub, type Scope, Stream, SubscriptionRef } from "effect"
import type { Container } from "./Container.ts"
import type { EngineClient } from "./EngineClient.ts"
import { isEngineError } from "./EngineError.ts"
import * as Portfolio from "./Portfolio.ts"
import * as Watcher from "./Watcher.ts"

/**
 * An engine of the host, as the picture names it.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostEngine {
  /** What kind of engine: `containerd`, `docker`, `podman`, … */
  readonly kind: string
  /** Where it is reached: its socket path; unique on a host. */
  readonly address: string
}

/**
 * A container of the picture, with the engine that names it.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostContainer {
  /** The engine the container belongs to. */
  readonly engine: HostEngine
  /** The container as its engine's Watcher knows it. */
  readonly container: Container
}

/**
 * A change of the picture: an engine's Watcher event, with the engine. An engine that joins (at
 * the start, or later) announces each of its containers as `Started`.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostEvent {
  /** The engine the container belongs to. */
  readonly engine: HostEngine
  /** What happened. */
  readonly event: Watcher.WatcherEvent
}

/**
 * One engine's state: what its Watcher is doing.
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineState {
  /** The engine. */
  readonly engine: HostEngine
  /** Its Watcher's status; an engine that went away keeps its last picture while `Retrying`. */
  readonly status: Watcher.Status
}

/**
 * An engine to watch: how to reach it, and what to call it.
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineSource {
  /** The engine's name in the picture. */
  readonly engine: HostEngine
  /** Its EngineClient (a failure to build it ends only this engine's watch). */
  readonly client: Layer.Layer<EngineClient, unknown>
}

/**
 * What the host watcher offers.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostShape {
  /** Every container alive on the engines, each once, ordered by engine address, then ID. */
  readonly containers: Watcher.View<ReadonlyArray<HostContainer>>
  /** Every engine's state, ordered by address. */
  readonly engines: Watcher.View<ReadonlyArray<EngineState>>
  /** The changes of the picture from the moment the stream runs, until the host closes. */
  readonly events: Stream.Stream<HostEvent>
  /** Watches one more engine; an engine already watched (same address) is left as it is. */
  readonly add: (source: EngineSource) => Effect.Effect<void>
  /** True once every engine added so far is live. */
  readonly allLive: Effect.Effect<boolean>
}

/**
 * The host watcher service.
 *
 * @since 0.1.0
 * @category services
 */
export const Host: Context.Service<Host, HostShape> = Context.Service<Host, HostShape>("effect-whalewatcher/Host")

/**
 * The identifier type of the {@link Host} service.
 *
 * @since 0.1.0
 * @category services
 */
export interface Host {
  /** Brands the identifier type. */
  readonly _: unique symbol
}

/**
 * One engine's part of the picture: its portfolio as its Watcher knows it, and its status.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnginePicture {
  /** The engine. */
  readonly engine: HostEngine
  /** Its containers, as its Watcher knows them. */
  readonly portfolio: Portfolio.Portfolio
  /** What its Watcher is doing. */
  readonly status: Watcher.Status
}

const namesItsContainers = (kind: string): boolean => kind === "docker" || kind === "podman"

/** A containerd container's own ID, without the namespace its display ID carries. */
const ownId = (container: Container): string =>
  container.namespace !== "" && container.id.startsWith(`${container.namespace}/`)
    ? container.id.slice(container.namespace.length + 1)
    : container.id

/** The IDs of every container that a Docker or Podman engine names. */
const namedByDockerEngines = (entries: Iterable<EnginePicture>): ReadonlySet<string> => {
  const ids = new Set<string>()
  for (const entry of entries) {
    if (!namesItsContainers(entry.engine.kind)) continue
    for (const container of Portfolio.containers(entry.portfolio)) ids.add(container.id)
  }
  return ids
}

/** A container that a Docker or Podman engine names is not shown again under a containerd. */
const isShadowed = (engine: HostEngine, container: Container, named: ReadonlySet<string>): boolean =>
  !namesItsContainers(engine.kind) && named.has(ownId(container))

/**
 * The merged picture of the entries: each container once.
 *
 * @since 0.1.0
 * @category combinators
 */
export const mergedContainers = (entries: ReadonlyArray<EnginePicture>): ReadonlyArray<HostContainer> => {
  const named = namedByDockerEngines(entries)
  return [...entries]
    .sort((a, b) => a.engine.address.localeCompare(b.engine.address))
    .flatMap((entry) =>
      Portfolio.containers(entry.portfolio)
        .filter((container) => !isShadowed(entry.engine, container, named))
        .map((container) => ({ engine: entry.engine, container }))
    )
}

const view = <A, B>(ref: SubscriptionRef.SubscriptionRef<A>, f: (a: A) => B): Watcher.View<B> => ({
  get: Effect.map(SubscriptionRef.get(ref), f),
  changes: Stream.map(SubscriptionRef.changes(ref), f)
})

/**
 * A host watcher over the given engines (more can be added with `add`). Every engine's Watcher
 * lives in the scope: closing it ends every watch and connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  sources: ReadonlyArray<EngineSource>,
  options: Watcher.WatcherOptions = {}
): Effect.Effect<HostShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const state = yield* SubscriptionRef.make(HashMap.empty<string, EnginePicture>())
    const hub = yield* PubSub.unbounded<HostEvent>()

    const update = (address: string, f: (entry: EnginePicture) => EnginePicture) =>
      SubscriptionRef.update(state, (entries) => HashMap.modify(entries, address, f))

    const announce = (engine: HostEngine, event: Watcher.WatcherEvent) =>
      Effect.gen(function*() {
        const named = namedByDockerEngines(HashMap.values(yield* SubscriptionRef.get(state)))
        if (isShadowed(engine, event.container, named)) return
        yield* PubSub.publish(hub, { engine, event })
      })

    const watchEngine = (source: EngineSource): Effect.Effect<void, unknown, Scope.Scope> =>
      Effect.gen(function*() {
        const watcher = yield* Watcher.make(options).pipe(Effect.provide(source.client))
        yield* watcher.status.changes.pipe(
          Stream.runForEach((status) => update(source.engine.address, (entry) => ({ ...entry, status }))),
          Effect.forkScoped
        )
        yield* watcher.ready
        // Follows the Watcher; after a lag (this host's reading fell behind), again from its
        // current portfolio, announcing the difference. The first time, every container is new.
        let known: Portfolio.Portfolio = Portfolio.empty
        while (true) {
          const subscription = yield* watcher.subscribe
          // The portfolio first, so that the shadowing of the joining engine's containers is known.
          yield* update(source.engine.address, (entry) => ({ ...entry, portfolio: subscription.portfolio }))
          const now = yield* DateTime.now
          for (const change of Portfolio.diff(known, subscription.portfolio)) {
            yield* announce(source.engine, { ...change, timestamp: now })
          }
          known = subscription.portfolio
          yield* subscription.events.pipe(
            Stream.runForEach((event) =>
              Effect.andThen(
                Effect.sync(() => {
                  known = Portfolio.applyChange(known, event)
                }),
                Effect.andThen(update(source.engine.address, (entry) => ({ ...entry, portfolio: known })), announce(source.engine, event))
              )
            ),
            Effect.catchTag("EventsLagged", () => Effect.void)
          )
          if ((yield* watcher.status.get)._tag === "Stopped") return
        }
      })

    const add = (source: EngineSource): Effect.Effect<void> =>
      Effect.gen(function*() {
        const known = HashMap.has(yield* SubscriptionRef.get(state), source.engine.address)
        if (known) return
        yield* SubscriptionRef.update(state, (entries) =>
          HashMap.set(entries, source.engine.address, {
            engine: source.engine,
            portfolio: Portfolio.empty,
            status: { _tag: "Syncing", attempt: 1 }
          }))
        // The fiber belongs to the host's scope: closing it ends this engine's watch.
        yield* watchEngine(source).pipe(
          Effect.scoped,
          Effect.catchCause((cause) => {
            const error = Cause.squash(cause)
            const stopped = isEngineError(error) ? Cause.fail(error) : Cause.die(error)
            return update(source.engine.address, (entry) => ({ ...entry, status: { _tag: "Stopped", cause: stopped } }))
          }),
          Effect.forkIn(scope)
        )
      })

    for (const source of sources) yield* add(source)

    const entries = (map: HashMap.HashMap<string, EnginePicture>) => [...HashMap.values(map)]
    return {
      containers: view(state, (map) => mergedContainers(entries(map))),
      engines: view(state, (map) =>
        entries(map)
          .sort((a, b) => a.engine.address.localeCompare(b.engine.address))
          .map(({ engine, status }) => ({ engine, status }))),
      events: Stream.fromPubSub(hub),
      add,
      allLive: Effect.map(SubscriptionRef.get(state), (map) => entries(map).every((entry) => entry.status._tag === "Live"))
    }
  })

/**
 * The host watcher over the given engines, as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  sources: ReadonlyArray<EngineSource>,
  options: Watcher.WatcherOptions = {}
): Layer.Layer<Host> => Layer.effect(Host, make(sources, options))

/**
 * The container with this ID on the engine at this address, if it is in the picture.
 *
 * @since 0.1.0
 * @category combinators
 */
export const find = (containers: ReadonlyArray<HostContainer>, address: string, id: string): Option.Option<HostContainer> =>
  Option.fromNullishOr(containers.find((entry) => entry.engine.address === address && entry.container.id === id))
