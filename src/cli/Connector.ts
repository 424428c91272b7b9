/**
 * How the command reaches a container engine: the global flags become an {@link EngineSelection}
 * (engine, socket address and namespace filter), and the {@link Connector} service turns a
 * selection into an EngineClient layer. The real connector talks to containerd, Docker or Podman;
 * tests provide one over a fake.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Option } from "effect"
import * as ContainerdConnection from "../containerd/ContainerdConnection.ts"
import * as ContainerdEngine from "../containerd/ContainerdEngine.ts"
import { namespaceFilterOf } from "../containerd/internal/namespaceOptions.ts"
import * as LabelMapping from "../containerd/LabelMapping.ts"
import * as NamespaceFilter from "../containerd/NamespaceFilter.ts"
import * as DockerConnection from "../docker/DockerConnection.ts"
import * as DockerEngine from "../docker/DockerEngine.ts"
import type { EngineClient } from "../EngineClient.ts"
import { UsageError } from "./CommandError.ts"
import { engineFacts, type EngineKind } from "./EngineKind.ts"

/**
 * Which namespaces to look at:
 * - `Default`: all but the ones ignored by default (moby, plugins.moby, k8s.io) and `ignore`;
 * - `All`: all but `ignore`;
 * - `Only`: just these.
 *
 * @category models
 * @since 0.1.0
 */
export type NamespaceSelection =
  | { readonly _tag: "Default"; readonly ignore: ReadonlyArray<string> }
  | { readonly _tag: "All"; readonly ignore: ReadonlyArray<string> }
  | { readonly _tag: "Only"; readonly namespaces: ReadonlyArray<string> }

/**
 * Where the socket address came from; error messages say it, because a forgotten
 * `CONTAINERD_ADDRESS` (or `DOCKER_HOST`) is a common surprise.
 *
 * @category models
 * @since 0.1.0
 */
export type AddressSource = "flag" | "environment" | "default"

/**
 * The engine the command talks to.
 *
 * @category models
 * @since 0.1.0
 */
export interface EngineSelection {
  /** The engine: containerd, or the Docker Engine API of Docker or Podman. */
  readonly engine: EngineKind
  /** The engine's socket path (without `unix://`). */
  readonly address: string
  /** Where {@link address} came from, for error messages. */
  readonly addressSource: AddressSource
  /** The containerd namespaces whose containers are shown (containerd only). */
  readonly namespaces: NamespaceSelection
}

/**
 * The global flags as parsed.
 *
 * @category models
 * @since 0.1.0
 */
export interface GlobalFlags {
  /** `--engine containerd|docker|podman`. */
  readonly engine: EngineKind
  /** `--address PATH`. */
  readonly address: Option.Option<string>
  /** Every `--namespace NS` / `-n NS`. */
  readonly namespace: ReadonlyArray<string>
  /** `--all-namespaces` / `-A`. */
  readonly allNamespaces: boolean
  /** Every `--ignore-namespace NS`. */
  readonly ignoreNamespace: ReadonlyArray<string>
}

/**
 * Resolves the global flags: the address from `--address`, else the engine's environment variable
 * (`CONTAINERD_ADDRESS`, `DOCKER_HOST`, `CONTAINER_HOST`), else the engine's default socket; the
 * namespace selection from the namespace flags, which must not contradict each other and apply to
 * containerd only.
 *
 * @category constructors
 * @since 0.1.0
 */
export const selectEngine = (flags: GlobalFlags): Effect.Effect<EngineSelection, UsageError> =>
  Effect.gen(function*() {
    const facts = engineFacts[flags.engine]
    const fromEnvironment = yield* Config.option(Config.String(facts.variable)).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const [given, addressSource]: readonly [string, AddressSource] = Option.isSome(flags.address)
      ? [flags.address.value, "flag"]
      : Option.isSome(fromEnvironment) && fromEnvironment.value !== ""
      ? [fromEnvironment.value, "environment"]
      : [facts.defaultAddress, "default"]
    const address = yield* socketPath(flags.engine, given, addressSource)
    if (flags.engine !== "containerd") {
      const namespaceFlag = flags.namespace.length > 0
        ? "--namespace"
        : flags.allNamespaces
        ? "--all-namespaces"
        : flags.ignoreNamespace.length > 0
        ? "--ignore-namespace"
        : undefined
      if (namespaceFlag !== undefined) {
        return yield* new UsageError({
          problem: `${namespaceFlag} applies to containerd only; ${facts.name} has no namespaces`
        })
      }
    }
    if (flags.namespace.length > 0 && flags.allNamespaces) {
      return yield* new UsageError({ problem: "--namespace and --all-namespaces exclude each other" })
    }
    if (flags.namespace.length > 0 && flags.ignoreNamespace.length > 0) {
      return yield* new UsageError({ problem: "--namespace and --ignore-namespace exclude each other" })
    }
    const namespaces: NamespaceSelection = flags.namespace.length > 0
      ? { _tag: "Only", namespaces: flags.namespace }
      : flags.allNamespaces
      ? { _tag: "All", ignore: flags.ignoreNamespace }
      : { _tag: "Default", ignore: flags.ignoreNamespace }
    return { engine: flags.engine, address, addressSource, namespaces }
  })

/** The socket path of an address as given, or a usage error that says where the address came from. */
const socketPath = (
  engine: EngineKind,
  address: string,
  source: AddressSource
): Effect.Effect<string, UsageError> => {
  const origin = source === "flag" ? "--address" : engineFacts[engine].variable
  const path = engine === "containerd"
    ? ContainerdConnection.normalizeAddress(address)
    : DockerConnection.socketPathOf(address)
  if (path === undefined) {
    return Effect.fail(
      new UsageError({ problem: `${origin} ${address}: only unix:// addresses (or socket paths) are supported` })
    )
  }
  if (path === "") return Effect.fail(new UsageError({ problem: `${origin} needs a socket path` }))
  return Effect.succeed(path)
}

/**
 * The namespace filter of a selection.
 *
 * @category layers
 * @since 0.1.0
 */
export const namespaceFilter = (selection: NamespaceSelection): Layer.Layer<NamespaceFilter.NamespaceFilter> =>
  namespaceFilterOf(
    selection._tag === "Only"
      ? { only: selection.namespaces }
      : selection._tag === "All"
      ? { ignore: selection.ignore }
      : { ignoreAlso: selection.ignore }
  )

/**
 * What a connector offers.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConnectorShape {
  /** The engine client for a selection; its connection lives as long as the layer's scope. */
  readonly engine: (selection: EngineSelection) => Layer.Layer<EngineClient>
}

/**
 * The connector service.
 *
 * @category services
 * @since 0.1.0
 */
export const Connector: Context.Service<Connector, ConnectorShape> = Context.Service<Connector, ConnectorShape>(
  "effect-whalewatcher/cli/Connector"
)

/**
 * The identifier type of the {@link Connector} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface Connector {
  /** Brands the identifier type. */
  readonly _: unique symbol
}

/**
 * The containerd engine for a selection, with nerdctl's name and compose's project labels.
 *
 * @category layers
 * @since 0.1.0
 */
export const containerdEngine = (
  selection: EngineSelection,
  connection: Layer.Layer<ContainerdConnection.ContainerdConnection> = ContainerdConnection.layer({
    address: selection.address
  })
): Layer.Layer<EngineClient> =>
  ContainerdEngine.layer().pipe(
    Layer.provide(connection),
    Layer.provide(namespaceFilter(selection.namespaces)),
    Layer.provide(LabelMapping.layer)
  )

/**
 * The Docker Engine API client of Docker or Podman for a selection (the flavor decides the
 * defaults and Podman's one-request list).
 *
 * @category layers
 * @since 0.1.0
 */
export const dockerEngine = (selection: EngineSelection): Layer.Layer<EngineClient> => {
  const flavor = selection.engine === "podman" ? "podman" : "docker"
  return DockerEngine.layer().pipe(
    Layer.provide(DockerConnection.layer({ address: selection.address, flavor }))
  )
}

/**
 * The real connector: the selected engine at the selected socket.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Connector> = Layer.succeed(Connector, {
  engine: (selection) => selection.engine === "containerd" ? containerdEngine(selection) : dockerEngine(selection)
})
