/**
 * How the command reaches a container engine: the global flags become an {@link EngineSelection}
 * (socket address and namespace filter), and the {@link Connector} service turns a selection into
 * an EngineClient layer. The real connector talks to containerd; tests provide one over a fake.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Option } from "effect"
import * as ContainerdConnection from "../containerd/ContainerdConnection.ts"
import * as ContainerdEngine from "../containerd/ContainerdEngine.ts"
import * as LabelMapping from "../containerd/LabelMapping.ts"
import * as NamespaceFilter from "../containerd/NamespaceFilter.ts"
import type { EngineClient } from "../EngineClient.ts"
import { type AddressSource, UsageError } from "./errors.ts"

/**
 * Which namespaces to look at:
 * - `Default`: all but the ones ignored by default (moby, plugins.moby, k8s.io) and `ignore`;
 * - `All`: all but `ignore`;
 * - `Only`: just these.
 *
 * @since 0.1.0
 */
export type NamespaceSelection =
  | { readonly _tag: "Default"; readonly ignore: ReadonlyArray<string> }
  | { readonly _tag: "All"; readonly ignore: ReadonlyArray<string> }
  | { readonly _tag: "Only"; readonly namespaces: ReadonlyArray<string> }

/**
 * The engine the command talks to.
 *
 * @since 0.1.0
 */
export interface EngineSelection {
  /** The containerd socket path (without `unix://`). */
  readonly address: string
  /** Where {@link address} came from, for error messages. */
  readonly addressSource: AddressSource
  /** The namespaces whose containers are shown. */
  readonly namespaces: NamespaceSelection
}

/**
 * The global flags as parsed.
 *
 * @since 0.1.0
 */
export interface GlobalFlags {
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
 * Resolves the global flags: the address from `--address`, else `CONTAINERD_ADDRESS`, else
 * containerd's default socket; the namespace selection from the namespace flags, which must not
 * contradict each other.
 *
 * @since 0.1.0
 */
export const selectEngine = (flags: GlobalFlags): Effect.Effect<EngineSelection, UsageError> =>
  Effect.gen(function*() {
    const fromEnvironment = yield* Config.option(Config.String("CONTAINERD_ADDRESS")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const [address, addressSource]: readonly [string, AddressSource] = Option.isSome(flags.address)
      ? [flags.address.value, "flag"]
      : Option.isSome(fromEnvironment) && fromEnvironment.value !== ""
      ? [fromEnvironment.value, "environment"]
      : [ContainerdConnection.DefaultAddress, "default"]
    if (ContainerdConnection.normalizeAddress(address) === "") {
      return yield* new UsageError({ problem: "--address needs a socket path" })
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
    return { address: ContainerdConnection.normalizeAddress(address), addressSource, namespaces }
  })

/**
 * The namespace filter of a selection.
 *
 * @since 0.1.0
 */
export const namespaceFilter = (selection: NamespaceSelection): Layer.Layer<NamespaceFilter.NamespaceFilter> => {
  switch (selection._tag) {
    case "Default":
      return NamespaceFilter.ignoringAlso(selection.ignore)
    case "All":
      return NamespaceFilter.ignoring(selection.ignore)
    case "Only":
      return NamespaceFilter.only(selection.namespaces)
  }
}

/**
 * What a connector offers.
 *
 * @since 0.1.0
 */
export interface ConnectorShape {
  /** The engine client for a selection; its connection lives as long as the layer's scope. */
  readonly engine: (selection: EngineSelection) => Layer.Layer<EngineClient>
}

/**
 * The connector service.
 *
 * @since 0.1.0
 */
export const Connector: Context.Service<Connector, ConnectorShape> = Context.Service<Connector, ConnectorShape>(
  "effect-whalewatcher/cli/Connector"
)

/**
 * The identifier type of the {@link Connector} service.
 *
 * @since 0.1.0
 */
export interface Connector {
  /** Brands the identifier type. */
  readonly _: unique symbol
}

/**
 * The containerd engine for a selection, with nerdctl's name and compose's project labels.
 *
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
 * The real connector: containerd at the selected socket.
 *
 * @since 0.1.0
 */
export const layerContainerd: Layer.Layer<Connector> = Layer.succeed(Connector, {
  engine: (selection) => containerdEngine(selection)
})
