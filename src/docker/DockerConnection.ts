/**
 * The connection to one Docker Engine API — dockerd, or Podman's Docker-compatible service — over
 * its unix socket, through effect's own `HttpClient` (replace the transport with a layer: see
 * {@link layerHttpClient}).
 *
 * The API version is negotiated from the ping (`/_ping`'s `Api-Version` header): the lower of the
 * daemon's and {@link MaxApiVersion}, so the same code serves Debian's Docker 20.10 (API 1.41) and
 * current Docker (which requires 1.44 or newer). Every JSON body is decoded with a Schema that
 * ignores unknown fields. Failures are tagged {@link EngineError.EngineUnavailable} /
 * {@link EngineError.EngineRequestError} values naming the socket.
 *
 * @since 0.1.0
 */
import { Config, Context, Duration, Effect, Layer, Option, Ref, Schema, type Scope, Stream } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import { EngineRequestError, EngineUnavailable } from "../EngineError.ts"
import { classifyError, statusName } from "./internal/classifyError.ts"
import * as UnixSocketHttpClient from "./UnixSocketHttpClient.ts"

/**
 * Which daemon speaks on the socket: it only chooses the default address and environment variable.
 *
 * @category models
 * @since 0.1.0
 */
export type Flavor = "docker" | "podman"

/**
 * Docker's default socket, used when neither an address option nor `DOCKER_HOST` is set.
 *
 * @category constants
 * @since 0.1.0
 */
export const DefaultDockerAddress = "/var/run/docker.sock"

/**
 * Podman's default (rootful) socket, used when neither an address option nor `CONTAINER_HOST` is set.
 *
 * @category constants
 * @since 0.1.0
 */
export const DefaultPodmanAddress = "/run/podman/podman.sock"

/**
 * The oldest API version this client speaks (every field it reads exists since).
 *
 * @category constants
 * @since 0.1.0
 */
export const MinApiVersion = "1.24"

/**
 * The newest API version this client asks for; a daemon that speaks a newer one is asked for this.
 *
 * @category constants
 * @since 0.1.0
 */
export const MaxApiVersion = "1.51"

/**
 * What the ping told.
 *
 * @category models
 * @since 0.1.0
 */
export interface Ping {
  /** The daemon's own API version (`Api-Version`). */
  readonly serverApiVersion: string
  /** The version this client uses in its paths: the lower of the daemon's and {@link MaxApiVersion}. */
  readonly apiVersion: string
  /** The `Server` header, e.g. `Docker/20.10.24 (linux)` or `Libpod/4.3.1 (linux)`. */
  readonly server: string
  /** True when the daemon is Podman (it sends `Libpod-Api-Version`). */
  readonly isPodman: boolean
}

/**
 * Errors of a Docker Engine API call.
 *
 * @category errors
 * @since 0.1.0
 */
export type CallError = EngineUnavailable | EngineRequestError

/**
 * Per-call settings.
 *
 * @category models
 * @since 0.1.0
 */
export interface CallSettings {
  /** Query parameters. */
  readonly params?: Readonly<Record<string, string>> | undefined
  /** Overrides the connection's unary timeout for this call. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * The connection's service interface.
 *
 * @category models
 * @since 0.1.0
 */
export interface DockerConnectionShape {
  /** The socket path, without any `unix://` prefix. */
  readonly address: string
  /** Which daemon the connection was configured for. */
  readonly flavor: Flavor
  /** The HttpClient every request goes through (bound to the socket unless replaced by a layer). */
  readonly httpClient: HttpClient.HttpClient
  /** Pings the daemon; the first success fixes the API version for the connection's lifetime. */
  readonly ping: Effect.Effect<Ping, CallError>
  /**
   * One GET of a JSON resource at the negotiated API version (`path` starts with "/", e.g.
   * `/containers/json`), decoded with `schema`. A status other than 200 fails with
   * `EngineRequestError`, whose `code` names it (`NotFound` for 404).
   */
  readonly getJson: <A>(
    operation: string,
    path: string,
    schema: Schema.Decoder<A>,
    settings?: CallSettings
  ) => Effect.Effect<A, CallError>
  /**
   * Opens a streaming GET (e.g. `/events`) and succeeds once the daemon sent status 200 and its
   * headers; the stream yields the body's lines and fails with `ConnectionLost` when the
   * connection breaks. The request ends with the scope.
   */
  readonly openLines: (
    operation: string,
    path: string,
    settings?: CallSettings
  ) => Effect.Effect<Stream.Stream<string, CallError>, CallError, Scope.Scope>
}

/**
 * Options of {@link make} / {@link layer}.
 *
 * @category models
 * @since 0.1.0
 */
export interface DockerConnectionOptions {
  /**
   * The socket, as a path or `unix://` URL. Defaults (in `layerConfig`) to `DOCKER_HOST`, then
   * {@link DefaultDockerAddress}; for Podman to `CONTAINER_HOST`, then {@link DefaultPodmanAddress}.
   */
  readonly address?: string | undefined
  /** Which daemon: chooses the default address. Default `"docker"`. */
  readonly flavor?: Flavor | undefined
  /** Deadline of each call that is not a stream; default 30 seconds. */
  readonly unaryTimeout?: Duration.Input | undefined
  /** How long a stream may take to send its headers; default 10 seconds. */
  readonly headersTimeout?: Duration.Input | undefined
}

/**
 * The Docker connection service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { DockerConnection } from "effect-whalewatcher/docker"
 *
 * const program = Effect.gen(function*() {
 *   const connection = yield* DockerConnection.DockerConnection
 *   const ping = yield* connection.ping
 *   console.log(ping.server, ping.apiVersion)
 * }).pipe(Effect.provide(DockerConnection.layerConfig()))
 * ```
 * @category services
 * @since 0.1.0
 */
export const DockerConnection: Context.Service<DockerConnection, DockerConnectionShape> = Context.Service<
  DockerConnection,
  DockerConnectionShape
>("effect-whalewatcher/docker/DockerConnection")

/**
 * The identifier type of the {@link DockerConnection} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface DockerConnection {
  /** Brands the identifier type; no value has it. */
  readonly _: unique symbol
}

/**
 * The socket path of an address: a plain path, or a `unix://` URL. Any other scheme (`tcp://`,
 * `ssh://`, `npipe://`) is not supported and returns `undefined`.
 *
 * @category parsing
 * @since 0.1.0
 */
export const socketPathOf = (address: string): string | undefined => {
  if (address.startsWith("unix://")) return address.slice("unix://".length)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) return undefined
  return address
}

const versionParts = (version: string): [number, number] => {
  const [major, minor] = version.split(".").map(Number)
  return [major ?? 0, minor ?? 0]
}

/**
 * Compares two API versions ("1.41" < "1.45").
 *
 * @category ordering
 * @since 0.1.0
 */
export const compareApiVersions = (a: string, b: string): number => {
  const [aMajor, aMinor] = versionParts(a)
  const [bMajor, bMinor] = versionParts(b)
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor
}

const ErrorBody = Schema.Struct({ message: Schema.optional(Schema.String) })

/**
 * A connection over the HttpClient in the context (the unix socket client in {@link layer}; a fake
 * in tests). Nothing is sent until the first call: a daemon that is down makes calls fail, never
 * the construction.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: (
  options?: DockerConnectionOptions
) => Effect.Effect<DockerConnectionShape, never, HttpClient.HttpClient> = Effect.fnUntraced(function*(
  options: DockerConnectionOptions = {}
) {
  const flavor = options.flavor ?? "docker"
  const rawAddress = options.address ?? (flavor === "podman" ? DefaultPodmanAddress : DefaultDockerAddress)
  const socketPath = socketPathOf(rawAddress)
  const address = socketPath ?? rawAddress
  const unaryTimeout = Duration.fromInputUnsafe(options.unaryTimeout ?? "30 seconds")
  const headersTimeout = Duration.fromInputUnsafe(options.headersTimeout ?? "10 seconds")
  // The host is ignored on a unix socket; the name only shows in errors and traces.
  const httpClient = (yield* HttpClient.HttpClient).pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl("http://docker")))
  const negotiated = yield* Ref.make(Option.none<Ping>())

  const unusable = (operation: string): CallError | undefined =>
    socketPath === undefined
      ? new EngineUnavailable({
        address,
        operation,
        reason: "SocketNotFound",
        detail: "only unix:// addresses are supported"
      })
      : socketPath === ""
      ? new EngineUnavailable({ address, operation, reason: "SocketNotFound", detail: "no socket path given" })
      : undefined

  const deadline = (operation: string, timeout: Duration.Duration) =>
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new EngineUnavailable({
            address,
            operation,
            reason: "DeadlineExceeded",
            detail: `no answer within ${Duration.format(timeout)}`
          })
        )
    })

  const failOnStatus = (operation: string, response: HttpClientResponse.HttpClientResponse) =>
    response.status === 200
      ? Effect.succeed(response)
      : response.text.pipe(
        Effect.map((text) => {
          const decoded = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))(text)
          return Option.isSome(decoded) && decoded.value.message !== undefined ? decoded.value.message : text.trim()
        }),
        Effect.orElseSucceed(() => ""),
        Effect.flatMap((detail) =>
          Effect.fail(
            new EngineRequestError({
              address,
              operation,
              code: statusName(response.status),
              detail: detail || `HTTP status ${response.status}`
            })
          )
        )
      )

  const send = <R>(
    operation: string,
    path: string,
    params: Readonly<Record<string, string>> | undefined,
    client: HttpClient.HttpClient.With<HttpClientError.HttpClientError, R>
  ) =>
    client.get(path, params === undefined ? undefined : { urlParams: params }).pipe(
      Effect.mapError((error) => classifyError(error, { address, operation }))
    )

  const ping: Effect.Effect<Ping, CallError> = Effect.gen(function*() {
    const known = yield* Ref.get(negotiated)
    if (Option.isSome(known)) return known.value
    const operation = "Ping"
    const failure = unusable(operation)
    if (failure !== undefined) return yield* failure
    const response = yield* send(operation, "/_ping", undefined, httpClient).pipe(
      Effect.flatMap((response) => failOnStatus(operation, response)),
      deadline(operation, unaryTimeout)
    )
    const serverApiVersion = response.headers["api-version"]
    if (serverApiVersion === undefined) {
      return yield* new EngineRequestError({
        address,
        operation,
        code: "NotDockerApi",
        detail: "the answer to /_ping has no Api-Version header, so this is not a Docker Engine API"
      })
    }
    if (compareApiVersions(serverApiVersion, MinApiVersion) < 0) {
      return yield* new EngineRequestError({
        address,
        operation,
        code: "Unimplemented",
        detail: `the daemon speaks API ${serverApiVersion}; this client needs ${MinApiVersion} or newer`
      })
    }
    const result: Ping = {
      serverApiVersion,
      apiVersion: compareApiVersions(serverApiVersion, MaxApiVersion) > 0 ? MaxApiVersion : serverApiVersion,
      server: response.headers["server"] ?? "",
      isPodman: response.headers["libpod-api-version"] !== undefined
    }
    yield* Ref.set(negotiated, Option.some(result))
    return result
  })

  const versioned = (path: string) => Effect.map(ping, (result) => `/v${result.apiVersion}${path}`)

  const getJson = <A>(
    operation: string,
    path: string,
    schema: Schema.Decoder<A>,
    settings: CallSettings = {}
  ): Effect.Effect<A, CallError> =>
    Effect.gen(function*() {
      const url = yield* versioned(path)
      const response = yield* send(operation, url, settings.params, httpClient).pipe(
        Effect.flatMap((response) => failOnStatus(operation, response))
      )
      const json = yield* response.json.pipe(Effect.mapError((error) => classifyError(error, { address, operation })))
      return yield* Schema.decodeUnknownEffect(schema)(json).pipe(
        Effect.mapError((issue) =>
          new EngineRequestError({ address, operation, code: "InvalidResponse", detail: String(issue), cause: issue })
        )
      )
    }).pipe(
      deadline(
        operation,
        settings.timeout === undefined ? unaryTimeout : Duration.fromInputUnsafe(settings.timeout)
      )
    )

  const openLines = (
    operation: string,
    path: string,
    settings: CallSettings = {}
  ): Effect.Effect<Stream.Stream<string, CallError>, CallError, Scope.Scope> =>
    Effect.gen(function*() {
      const url = yield* versioned(path)
      const response = yield* send(operation, url, settings.params, HttpClient.withScope(httpClient)).pipe(
        Effect.flatMap((response) => failOnStatus(operation, response)),
        deadline(operation, settings.timeout === undefined ? headersTimeout : Duration.fromInputUnsafe(settings.timeout))
      )
      return response.stream.pipe(
        Stream.mapError((error) => classifyError(error, { address, operation })),
        Stream.decodeText(),
        Stream.splitLines
      )
    })

  return DockerConnection.of({ address, flavor, httpClient, ping, getJson, openLines })
})

/**
 * A layer on the unix socket of `options.address` (or the flavor's default socket).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: DockerConnectionOptions = {}): Layer.Layer<DockerConnection> => {
  const flavor = options.flavor ?? "docker"
  const address = options.address ?? (flavor === "podman" ? DefaultPodmanAddress : DefaultDockerAddress)
  return layerHttpClient({ ...options, address }).pipe(
    Layer.provide(UnixSocketHttpClient.layer(socketPathOf(address) ?? ""))
  )
}

/**
 * A layer over the HttpClient the app provides instead of the socket, e.g. a fake Docker API in
 * unit tests (`HttpClient.make` answering requests from memory).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerHttpClient = (
  options: DockerConnectionOptions = {}
): Layer.Layer<DockerConnection, never, HttpClient.HttpClient> => Layer.effect(DockerConnection, make(options))

/**
 * A layer that reads the address through effect's Config: for Docker `DOCKER_HOST`, else
 * {@link DefaultDockerAddress}; for Podman (`flavor: "podman"`) `CONTAINER_HOST`, else
 * {@link DefaultPodmanAddress}. An explicit `address` option wins. Only `unix://` addresses (or
 * plain paths) work; any other scheme fails every call with a clear error.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: DockerConnectionOptions = {}
): Layer.Layer<DockerConnection, Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const flavor = options.flavor ?? "docker"
      const address = options.address ?? (flavor === "podman"
        ? yield* Config.String("CONTAINER_HOST").pipe(Config.withDefault(DefaultPodmanAddress))
        : yield* Config.String("DOCKER_HOST").pipe(Config.withDefault(DefaultDockerAddress)))
      return layer({ ...options, address })
    })
  )
