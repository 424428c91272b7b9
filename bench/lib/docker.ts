/**
 * The Docker benchmark's own clients, with nothing of ours in between: a bare Docker Engine API
 * client on `node:http` over the daemon's unix socket (its own keep-alive agent, JSON.parse and
 * nothing else), the sync's requests issued through it the way DockerEngine issues them, and the
 * instrumented HttpClient the engine under test runs on (request counts, event arrival stamps).
 */
import * as http from "node:http"
import { Effect, Option } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import * as UnixSocketHttpClient from "../../src/docker/UnixSocketHttpClient.ts"

/** The `filters` of the list: alive means running or paused (Podman's plain list leaves paused out). */
export const aliveFilter = JSON.stringify({ status: ["running", "paused"] })

/** The newest API version DockerEngine asks for (DockerConnection's MaxApiVersion). */
const maxApiVersion = [1, 51] as const

export interface BareResponse {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

export interface BareDocker {
  /** The version prefix every path gets, negotiated from the ping as DockerConnection does (`/v1.41`). */
  readonly prefix: string
  /** The `Server` header of the ping, e.g. `Docker/20.10.24 (linux)`. */
  readonly server: string
  /** One request, its whole body read. */
  readonly send: (method: string, path: string, body?: unknown) => Promise<BareResponse>
  /** One GET of a JSON resource at the negotiated version; a status other than 200 rejects. */
  readonly getJson: (path: string) => Promise<any>
  /**
   * Opens a streaming GET and resolves once its headers arrived; `onChunk` sees every body chunk
   * the moment `node:http` hands it over. The returned function ends the request.
   */
  readonly openStream: (path: string, onChunk: (chunk: Buffer) => void) => Promise<() => void>
  readonly close: () => void
}

const query = (params: Readonly<Record<string, string>>): string => {
  const text = new URLSearchParams(params).toString()
  return text === "" ? "" : `?${text}`
}

/** `path` with query parameters. */
export const withQuery = (path: string, params: Readonly<Record<string, string>>): string => `${path}${query(params)}`

/** A bare client on the socket; pings once to fix the API version prefix. */
export const bareDocker = async (socketPath: string): Promise<BareDocker> => {
  const agent = new http.Agent({ keepAlive: true })
  const send = (method: string, path: string, body?: unknown) =>
    new Promise<BareResponse>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body)
      const request = http.request({
        socketPath,
        agent,
        method,
        path,
        headers: payload === undefined
          ? { host: "docker" }
          : { host: "docker", "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) }
      }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.once("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }))
        response.once("error", reject)
      })
      request.once("error", reject)
      request.end(payload)
    })
  const ping = await send("GET", "/_ping")
  const serverVersion = String(ping.headers["api-version"] ?? "1.24")
  const [major, minor] = serverVersion.split(".").map(Number) as [number, number]
  const newer = major > maxApiVersion[0] || (major === maxApiVersion[0] && minor > maxApiVersion[1])
  const prefix = `/v${newer ? maxApiVersion.join(".") : serverVersion}`
  const getJson = async (path: string) => {
    const response = await send("GET", `${prefix}${path}`)
    if (response.status !== 200) throw new Error(`GET ${path}: HTTP ${response.status} ${response.body.slice(0, 200)}`)
    return JSON.parse(response.body)
  }
  const openStream = (path: string, onChunk: (chunk: Buffer) => void) =>
    new Promise<() => void>((resolve, reject) => {
      const request = http.get({ socketPath, agent, path: `${prefix}${path}`, headers: { host: "docker" } }, (response) => {
        if (response.statusCode !== 200) {
          response.resume()
          return reject(new Error(`GET ${path}: HTTP ${response.statusCode}`))
        }
        response.on("data", onChunk)
        response.once("error", () => undefined)
        resolve(() => request.destroy())
      })
      request.once("error", reject)
    })
  return { prefix, server: String(ping.headers["server"] ?? ""), send, getJson, openStream, close: () => agent.destroy() }
}

/** Runs `task` over `items`, at most `limit` at once. */
export const forEachLimited = async <A, B>(
  items: ReadonlyArray<A>,
  limit: number,
  task: (item: A) => Promise<B>
): Promise<Array<B>> => {
  const results = new Array<B>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** Alive as DockerEngine counts it: a process, running or paused. */
export const isAlive = (inspected: any): boolean =>
  (inspected?.State?.Pid ?? 0) > 0 && (inspected.State.Running === true || inspected.State.Paused === true)

/** The list request alone; returns the IDs. */
export const bareListOnly = async (client: BareDocker): Promise<Array<string>> =>
  (await client.getJson(withQuery("/containers/json", { filters: aliveFilter }))).map((summary: any) => summary.Id)

/**
 * The requests of DockerEngine's list, bare: the list with the status filter, then one inspect
 * per container, `concurrency` at a time (DockerEngine's default is 8). Returns how many are alive.
 */
export const bareList = async (client: BareDocker, concurrency: number): Promise<number> => {
  const ids = await bareListOnly(client)
  const inspected = await forEachLimited(ids, concurrency, (id) => client.getJson(`/containers/${id}/json`))
  return inspected.filter(isAlive).length
}

/** A container created (not started) from `image`; no network, short stop timeout, never pulled. */
export const createContainer = async (
  client: BareDocker,
  options: { readonly image: string; readonly name: string; readonly labels: Readonly<Record<string, string>> }
): Promise<string> => {
  const response = await client.send("POST", withQuery(`${client.prefix}/containers/create`, { name: options.name }), {
    Image: options.image,
    Cmd: ["/bin/sleep", "1000000"],
    Labels: options.labels,
    StopTimeout: 1,
    HostConfig: { NetworkMode: "none" }
  })
  if (response.status !== 201) throw new Error(`create ${options.name}: HTTP ${response.status} ${response.body.slice(0, 300)}`)
  return JSON.parse(response.body).Id
}

export const startCreated = async (client: BareDocker, id: string): Promise<void> => {
  const response = await client.send("POST", `${client.prefix}/containers/${id}/start`)
  if (response.status !== 204) throw new Error(`start ${id}: HTTP ${response.status} ${response.body.slice(0, 300)}`)
}

// -------------------------------------------------------------------------------------------------
// The engine's transport, instrumented
// -------------------------------------------------------------------------------------------------

/** A body chunk of an event stream, stamped as it came out of the socket client. */
export interface Chunk {
  readonly at: number
  readonly chunk: Uint8Array
}

/** A request's key for counting: method and path, without the version prefix, a container as `{id}`. */
export const requestKey = (method: string, url: string): string => {
  const path = url.replace(/^[a-z]+:\/\/[^/]+/, "").replace(/\?.*$/, "").replace(/^\/v\d+\.\d+\//, "/")
  return `${method} ${path.replace(/^\/containers\/(?!json$)[^/]+\/json$/, "/containers/{id}/json")}`
}

const isEventStream = (url: string) => /\/events(\?|$)/.test(url)

export interface Instrumentation {
  /** Requests by {@link requestKey}, counted as they are sent. */
  readonly counts: Map<string, number>
  /** Where the event stream's chunks go, stamped; none when undefined. */
  readonly arrivals?: Array<Chunk> | undefined
  /** A label (`key=value`) the event stream's server-side filters are narrowed to; none when undefined. */
  readonly eventLabel?: string | undefined
}

/**
 * UnixSocketHttpClient on the socket (over `agent`), counting every request and, when asked,
 * stamping each chunk of the event stream as the socket client hands it over (a TransformStream
 * between the two: one microtask) and narrowing the event stream to containers with a label, so
 * that the Watcher under test never sees the bare floor's containers.
 */
export const instrumentedHttpClient = (
  socketPath: string,
  agent: http.Agent,
  instrumentation: Instrumentation
): HttpClient.HttpClient => {
  const { counts, arrivals, eventLabel } = instrumentation
  const counted = HttpClient.tapRequest(UnixSocketHttpClient.make(socketPath, agent), (request) =>
    Effect.sync(() => {
      const key = requestKey(request.method, request.url)
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }))
  const narrowed = eventLabel === undefined ? counted : HttpClient.mapRequest(counted, (request) => {
    if (!isEventStream(request.url)) return request
    const filters = request.urlParams.params.find(([key]) => key === "filters")?.[1]
    const parsed = typeof filters === "string" ? JSON.parse(filters) : {}
    return HttpClientRequest.setUrlParam(request, "filters", JSON.stringify({ ...parsed, label: [eventLabel] }))
  })
  if (arrivals === undefined) return narrowed
  return HttpClient.transformResponse(narrowed, (effect) =>
    Effect.map(effect, (response) => {
      if (!isEventStream(response.request.url)) return response
      const web = Option.getOrUndefined(HttpClientResponse.toWeb(response))
      if (web === undefined || web.body === null) return response
      const stamped = web.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            arrivals.push({ at: performance.now(), chunk })
            controller.enqueue(chunk)
          }
        })
      )
      return HttpClientResponse.fromWeb(response.request, new Response(stamped, { status: web.status, headers: web.headers }))
    }))
}

/**
 * The first arrival of each container's `start` event, by full ID, from stamped chunks (a line's
 * arrival is that of the chunk that completed it).
 */
export const startArrivals = (chunks: ReadonlyArray<Chunk>): Map<string, number> => {
  const decoder = new TextDecoder()
  const byId = new Map<string, number>()
  let pending = ""
  for (const { at, chunk } of chunks) {
    pending += decoder.decode(chunk, { stream: true })
    const lines = pending.split("\n")
    pending = lines.pop() ?? ""
    for (const line of lines) {
      if (line.trim() === "") continue
      const event = JSON.parse(line)
      const id = event.Actor?.ID ?? event.id
      if ((event.Action ?? event.status) === "start" && typeof id === "string" && !byId.has(id)) byId.set(id, at)
    }
  }
  return byId
}

export const totalCount = (counts: ReadonlyMap<string, number>): number =>
  [...counts.values()].reduce((sum, n) => sum + n, 0)

export const describeCounts = (counts: ReadonlyMap<string, number>): string =>
  [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, n]) => `${key} ${n}`).join(", ")
