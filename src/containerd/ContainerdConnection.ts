/**
 * The connection to one containerd: a single HTTP/2 session over its unix socket, owned by the
 * layer's scope, with typed gRPC clients for the services this library uses.
 *
 * Every call goes through {@link ContainerdConnectionShape.call} or
 * {@link ContainerdConnectionShape.stream}, which set the `containerd-namespace` header, map
 * failures to tagged {@link EngineError.EngineUnavailable} / {@link EngineError.EngineRequestError}
 * values that name the socket, and cancel the RPC as soon as the calling fiber is interrupted.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import { type CallOptions, type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect"
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node"
import { Config, Context, Duration, Effect, Layer, type Scope, Stream } from "effect"
import { Containers } from "../../gen/containerd/services/containers/v1/containers_pb.ts"
import { Events } from "../../gen/containerd/services/events/v1/events_pb.ts"
import { Introspection } from "../../gen/containerd/services/introspection/v1/introspection_pb.ts"
import { Namespaces } from "../../gen/containerd/services/namespaces/v1/namespace_pb.ts"
import { Tasks } from "../../gen/containerd/services/tasks/v1/tasks_pb.ts"
import { Version } from "../../gen/containerd/services/version/v1/version_pb.ts"
import { EngineUnavailable, type EngineRequestError } from "../EngineError.ts"
import { classifyError } from "./internal/classifyError.ts"
import { type HandshakeResult, probeHandshake } from "./internal/handshake.ts"

/**
 * containerd's default socket, used when neither an address option nor `CONTAINERD_ADDRESS` is set.
 *
 * @category constants
 * @since 0.1.0
 */
export const DefaultAddress = "/run/containerd/containerd.sock"

/**
 * The gRPC metadata key that selects the containerd namespace of a call.
 *
 * @category constants
 * @since 0.1.0
 */
export const NamespaceHeader = "containerd-namespace"

/**
 * containerd's message size limit, each way.
 *
 * @category constants
 * @since 0.1.0
 */
export const MaxMessageBytes: number = 16 * 1024 * 1024

/** A unary call still unanswered after this long has the socket checked for HTTP/2 (see `call`). */
const slowCallMillis = 1_500
/** How long the check waits for the server's SETTINGS frame; containerd sends it at once. */
const handshakeTimeoutMs = 1_000

const isNotHttp2 = (result: HandshakeResult): boolean => result === "other" || result === "closed" || result === "silent"

const handshakeDetail: Record<HandshakeResult, string> = {
  http2: "",
  other: "it answered an HTTP/2 connection preface with something else",
  closed: "it closed the connection on an HTTP/2 connection preface",
  silent: "it did not answer an HTTP/2 connection preface within a second",
  unreachable: ""
}

/**
 * Typed connect-es clients for the containerd services in this library's proto subset.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerdClients {
  /** `containerd.services.namespaces.v1.Namespaces` */
  readonly namespaces: Client<typeof Namespaces>
  /** `containerd.services.containers.v1.Containers` */
  readonly containers: Client<typeof Containers>
  /** `containerd.services.tasks.v1.Tasks` */
  readonly tasks: Client<typeof Tasks>
  /** `containerd.services.events.v1.Events` */
  readonly events: Client<typeof Events>
  /** `containerd.services.version.v1.Version` */
  readonly version: Client<typeof Version>
  /** `containerd.services.introspection.v1.Introspection` */
  readonly introspection: Client<typeof Introspection>
}

/**
 * Per-call settings.
 *
 * @category models
 * @since 0.1.0
 */
export interface CallSettings {
  /** The containerd namespace of the call; omit for namespace-less calls (Namespaces, Version, Subscribe). */
  readonly namespace?: string | undefined
  /** Overrides the connection's unary timeout for this call (streams have none). */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Errors of a containerd call.
 *
 * @category errors
 * @since 0.1.0
 */
export type CallError = EngineUnavailable | EngineRequestError

/**
 * The connection's service interface.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerdConnectionShape {
  /** The socket path, without any `unix://` prefix. */
  readonly address: string
  /** The raw typed clients; prefer `call`/`stream`, which add namespace, errors and cancellation. */
  readonly clients: ContainerdClients
  /** The underlying transport (e.g. to build clients for further services). */
  readonly transport: Transport
  /**
   * Runs one unary RPC. `operation` names it in errors (e.g. `"Containers.List"`).
   *
   * @example
   * ```ts
   * const containers = connection.call("Containers.List", (clients, options) =>
   *   clients.containers.list({}, options), { namespace: "default" })
   * ```
   */
  readonly call: <A>(
    operation: string,
    run: (clients: ContainerdClients, options: CallOptions) => Promise<A>,
    settings?: CallSettings
  ) => Effect.Effect<A, CallError>
  /**
   * Runs one server-streaming RPC as a Stream; the RPC is cancelled as soon as the stream's
   * scope closes (consumer done, interrupted, or failed).
   */
  readonly stream: <A>(
    operation: string,
    run: (clients: ContainerdClients, options: CallOptions) => AsyncIterable<A>,
    settings?: CallSettings
  ) => Stream.Stream<A, CallError>
}

/**
 * Options of {@link make} / {@link layer}.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerdConnectionOptions {
  /** Socket path, with or without `unix://`. Defaults to `CONTAINERD_ADDRESS`, then {@link DefaultAddress} (in `layerConfig`). */
  readonly address?: string | undefined
  /** Deadline of each unary call; default 30 seconds. Streams have no deadline. */
  readonly unaryTimeout?: Duration.Input | undefined
  /** How long to wait for the socket connection; default 5 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
  /** connect-es interceptors run on every call over the socket, e.g. for tracing or counting RPCs. */
  readonly interceptors?: ReadonlyArray<Interceptor> | undefined
}

/**
 * The containerd connection service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ContainerdConnection } from "effect-whalewatcher/containerd"
 *
 * const program = Effect.gen(function*() {
 *   const connection = yield* ContainerdConnection.ContainerdConnection
 *   const version = yield* connection.call("Version.Version", (c, o) => c.version.version({}, o))
 *   console.log(version.version)
 * }).pipe(Effect.provide(ContainerdConnection.layerConfig()))
 * ```
 * @category services
 * @since 0.1.0
 */
export const ContainerdConnection: Context.Service<ContainerdConnection, ContainerdConnectionShape> = Context
  .Service<ContainerdConnection, ContainerdConnectionShape>("effect-whalewatcher/containerd/ContainerdConnection")

/**
 * The identifier type of the {@link ContainerdConnection} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface ContainerdConnection {
  /** Brands the identifier type; no value has it. */
  readonly _: unique symbol
}

/**
 * Strips an optional `unix://` prefix; containerd addresses are plain socket paths otherwise.
 *
 * @category parsing
 * @since 0.1.0
 */
export const normalizeAddress = (address: string): string =>
  address.startsWith("unix://") ? address.slice("unix://".length) : address

/**
 * Builds a connection to the socket at `options.address`, or at the transport given (tests pass
 * connect's router transport here). The HTTP/2 session opens on the first call and is closed by
 * the scope's finalizer, which also cancels every call and stream still running.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: (
  options?: ContainerdConnectionOptions & { readonly transport?: Transport | undefined }
) => Effect.Effect<ContainerdConnectionShape, never, Scope.Scope> = Effect.fnUntraced(function*(
  options: ContainerdConnectionOptions & { readonly transport?: Transport | undefined } = {}
) {
  const address = normalizeAddress(options.address ?? DefaultAddress)
  const unaryTimeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.unaryTimeout ?? "30 seconds"))
  let closed = false

  const transport = options.transport ?? (yield* Effect.acquireRelease(
    Effect.sync(() => {
      const sessionManager = new Http2SessionManager(
        "http://localhost",
        // No keepalive pings: containerd has no keepalive policy and answers frequent pings with
        // GOAWAY "too_many_pings"; a unix socket reports a dead peer by itself.
        {
          connectTimeoutMs: Duration.toMillis(Duration.fromInputUnsafe(options.connectTimeout ?? "5 seconds"))
        },
        {
          createConnection: () => {
            const socket = net.connect(address)
            // The session reports the socket's errors; this listener only keeps a write to a
            // socket the server already closed (Deno: EPIPE) from being an uncaught error.
            socket.on("error", () => {})
            return socket
          }
        }
      )
      return {
        sessionManager,
        transport: createGrpcTransport({
          baseUrl: "http://localhost",
          sessionManager,
          // On a local socket compression saves no time and only costs CPU.
          acceptCompression: [],
          readMaxBytes: MaxMessageBytes,
          writeMaxBytes: MaxMessageBytes,
          interceptors: [...(options.interceptors ?? [])]
        })
      }
    }),
    ({ sessionManager }) =>
      Effect.sync(() => {
        closed = true
        sessionManager.abort()
      })
  )).transport

  const clients: ContainerdClients = {
    namespaces: createClient(Namespaces, transport),
    containers: createClient(Containers, transport),
    tasks: createClient(Tasks, transport),
    events: createClient(Events, transport),
    version: createClient(Version, transport),
    introspection: createClient(Introspection, transport)
  }

  const closedError = (operation: string) =>
    new EngineUnavailable({ address, operation, reason: "Closed", detail: "" })

  // An empty path would make net.connect dial a TCP port instead of failing: say what is wrong.
  const unusableAddress = (operation: string) =>
    address === "" && options.transport === undefined
      ? new EngineUnavailable({ address, operation, reason: "SocketNotFound", detail: "no socket path given" })
      : undefined

  const headersFor = (namespace: string | undefined): Record<string, string> | undefined =>
    namespace === undefined ? undefined : { [NamespaceHeader]: namespace }

  const call = <A>(
    operation: string,
    run: (clients: ContainerdClients, options: CallOptions) => Promise<A>,
    settings: CallSettings = {}
  ): Effect.Effect<A, CallError> =>
    Effect.suspend(() => {
      if (closed) return Effect.fail(closedError(operation))
      const unusable = unusableAddress(operation)
      if (unusable !== undefined) return Effect.fail(unusable)
      const timeoutMs = settings.timeout === undefined
        ? unaryTimeoutMs
        : Duration.toMillis(Duration.fromInputUnsafe(settings.timeout))
      const attempt = Effect.tryPromise({
        try: (signal) => {
          const callOptions: CallOptions = { signal, timeoutMs }
          const headers = headersFor(settings.namespace)
          if (headers !== undefined) callOptions.headers = headers
          return run(clients, callOptions)
        },
        catch: (error) =>
          classifyError(error, { address, operation, namespace: settings.namespace, abortedByUs: closed })
      })
      if (options.transport !== undefined) return attempt
      // Is it containerd at all? Asked only when a call is slow or lost its connection, so that a
      // socket that is not containerd's API fails within seconds instead of at the deadline.
      const notTheApi = (result: HandshakeResult) =>
        new EngineUnavailable({ address, operation, reason: "NotTheEngineApi", detail: handshakeDetail[result] })
      // A containerd that is dying (or crashed a moment ago) may still accept and close: only a
      // server that closes twice, 200 ms apart, is taken for one that is not containerd.
      const probe = Effect.promise(() => probeHandshake(address, handshakeTimeoutMs))
      const probeAfterLoss = Effect.flatMap(probe, (first) =>
        first === "closed" ? Effect.andThen(Effect.sleep("200 millis"), probe) : Effect.succeed(first))
      const checkedAfterLoss = attempt.pipe(Effect.catchIf(
        (error) => error._tag === "EngineUnavailable" && error.reason === "ConnectionLost",
        (error) =>
          Effect.flatMap(
            probeAfterLoss,
            (result) => Effect.fail(isNotHttp2(result) ? notTheApi(result) : error)
          )
      ))
      const watchdog = Effect.sleep(slowCallMillis).pipe(
        Effect.andThen(probe),
        Effect.flatMap((result) => isNotHttp2(result) ? Effect.fail(notTheApi(result)) : Effect.never)
      )
      return Effect.raceFirst(checkedAfterLoss, watchdog)
    })

  const stream = <A>(
    operation: string,
    run: (clients: ContainerdClients, options: CallOptions) => AsyncIterable<A>,
    settings: CallSettings = {}
  ): Stream.Stream<A, CallError> =>
    Stream.unwrap(Effect.gen(function*() {
      if (closed) return yield* closedError(operation)
      const unusable = unusableAddress(operation)
      if (unusable !== undefined) return yield* unusable
      // Interrupting a pending `for await` does not reach the server by itself: aborting this
      // controller when the stream's scope closes ends the gRPC stream at once.
      const controller = yield* Effect.acquireRelease(
        Effect.sync(() => new AbortController()),
        (controller) => Effect.sync(() => controller.abort())
      )
      const callOptions: CallOptions = { signal: controller.signal }
      const headers = headersFor(settings.namespace)
      if (headers !== undefined) callOptions.headers = headers
      return Stream.fromAsyncIterable(
        run(clients, callOptions),
        (error) =>
          classifyError(error, {
            address,
            operation,
            namespace: settings.namespace,
            abortedByUs: closed || controller.signal.aborted
          })
      )
    }))

  return ContainerdConnection.of({ address, clients, transport, call, stream })
})

/**
 * A layer with an explicit configuration.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: ContainerdConnectionOptions = {}): Layer.Layer<ContainerdConnection> =>
  Layer.effect(ContainerdConnection, make(options))

/**
 * A layer that reads `CONTAINERD_ADDRESS` (with or without `unix://`) through effect's Config,
 * falling back to {@link DefaultAddress}; an explicit `address` option wins over both.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: ContainerdConnectionOptions = {}
): Layer.Layer<ContainerdConnection, Config.ConfigError> =>
  Layer.effect(
    ContainerdConnection,
    Effect.gen(function*() {
      const address = options.address ??
        (yield* Config.String("CONTAINERD_ADDRESS").pipe(Config.withDefault(DefaultAddress)))
      return yield* make({ ...options, address })
    })
  )

/**
 * A layer on a given transport instead of a socket, e.g. connect's `createRouterTransport`
 * serving a fake containerd in unit tests.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTransport = (
  transport: Transport,
  options: ContainerdConnectionOptions = {}
): Layer.Layer<ContainerdConnection> => Layer.effect(ContainerdConnection, make({ ...options, transport }))
