/**
 * An effect `HttpClient` that speaks HTTP/1.1 over a unix socket, for the Docker Engine API (Docker
 * and Podman listen on a unix socket; the host part of a URL is ignored there).
 *
 * It is built on `node:http` with a socket path, the one approach that works unchanged in Node,
 * Deno and Bun, and it sets no idle timeout: an event stream may stay silent for hours. Deadlines
 * belong to the callers (an interrupted request is aborted at once). Responses are handed to
 * effect as web `Response`s, so everything of `HttpClientResponse` (json, text, stream) works.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import { Effect, Layer } from "effect"
import { HttpClient, HttpClientError, type HttpClientRequest, HttpClientResponse } from "effect/http"

/**
 * Statuses whose responses have no body: a web `Response` refuses one for them.
 */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304])

/** The error a cut response body fails with, like Node's own ("aborted", ECONNRESET). */
const abortedError = (): Error => Object.assign(new Error("aborted"), { code: "ECONNRESET" })

const toWebHeaders = (incoming: http.IncomingHttpHeaders): Headers => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue
    if (Array.isArray(value)) for (const item of value) headers.append(name, item)
    else headers.set(name, value)
  }
  return headers
}

/**
 * A response body as a web stream: paused while the consumer does not pull (back pressure), an
 * error when the connection breaks before the response is complete, the request destroyed when the
 * consumer cancels.
 */
const toWebBody = (response: http.IncomingMessage): ReadableStream<Uint8Array> => {
  let finished = false
  return new ReadableStream<Uint8Array>({
    start(controller) {
      response.on("data", (chunk: Buffer) => {
        if (finished) return
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        if ((controller.desiredSize ?? 1) <= 0) response.pause()
      })
      response.once("end", () => {
        if (finished) return
        finished = true
        controller.close()
      })
      const fail = (cause: Error) => {
        if (finished) return
        finished = true
        controller.error(cause)
      }
      response.once("error", fail)
      // Some runtimes only report a cut connection by closing an incomplete response.
      response.once("close", () => {
        if (!response.complete) fail(abortedError())
      })
    },
    pull() {
      response.resume()
    },
    cancel() {
      finished = true
      response.destroy()
    }
  })
}

const requestBody = (request: HttpClientRequest.HttpClientRequest): Uint8Array | string | undefined => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
      return undefined
    case "Uint8Array":
      return body.body
    case "Raw":
      if (typeof body.body === "string" || body.body instanceof Uint8Array) return body.body
      throw new Error("only string and byte bodies can be sent over the unix socket client")
    default:
      throw new Error(`a ${body._tag} body cannot be sent over the unix socket client`)
  }
}

/** One request over the socket; resolves with the response as soon as its headers arrived. */
const send = (
  socketPath: string,
  agent: http.Agent,
  request: HttpClientRequest.HttpClientRequest,
  url: URL,
  signal: AbortSignal
): Promise<Response> =>
  new Promise<Response>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const body = requestBody(request)
    const headers: Record<string, string> = { ...request.headers }
    if (body !== undefined) {
      headers["content-length"] = String(typeof body === "string" ? new TextEncoder().encode(body).length : body.length)
      const contentType = request.body._tag === "Empty" ? undefined : request.body.contentType
      if (contentType !== undefined && headers["content-type"] === undefined) headers["content-type"] = contentType
    }
    const outgoing = http.request({
      socketPath,
      agent,
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers: { host: url.host || "localhost", ...headers }
    })
    const onAbort = () => outgoing.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"))
    signal.addEventListener("abort", onAbort, { once: true })
    outgoing.once("error", (cause) => {
      signal.removeEventListener("abort", onAbort)
      reject(cause)
    })
    outgoing.once("response", (incoming) => {
      const status = incoming.statusCode ?? 0
      const init = { status, statusText: incoming.statusMessage ?? "", headers: toWebHeaders(incoming.headers) }
      if (nullBodyStatuses.has(status) || status < 200 || status > 599) {
        incoming.resume()
        resolve(new Response(null, { ...init, status: status < 200 || status > 599 ? 502 : status }))
      } else {
        resolve(new Response(toWebBody(incoming), init))
      }
    })
    outgoing.end(body)
  })

/**
 * An HttpClient that sends every request to the unix socket at `socketPath`, over the given agent
 * (which pools its connections).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (socketPath: string, agent: http.Agent = new http.Agent({ keepAlive: true })): HttpClient.HttpClient =>
  HttpClient.make((request, url, signal) =>
    Effect.map(
      Effect.tryPromise({
        try: () => send(socketPath, agent, request, url, signal),
        catch: (cause) =>
          new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause }) })
      }),
      (response) => HttpClientResponse.fromWeb(request, response)
    )
  )

/**
 * The HttpClient service on the unix socket at `socketPath`; its pooled connections are closed
 * when the layer's scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpClient } from "effect/http"
 * import { UnixSocketHttpClient } from "effect-whalewatcher/docker"
 *
 * const ping = HttpClient.get("http://docker/_ping").pipe(
 *   Effect.flatMap((response) => response.text),
 *   Effect.provide(UnixSocketHttpClient.layer("/var/run/docker.sock"))
 * )
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (socketPath: string): Layer.Layer<HttpClient.HttpClient> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => new http.Agent({ keepAlive: true })),
        (agent) => Effect.sync(() => agent.destroy())
      ),
      (agent) => make(socketPath, agent)
    )
  )
