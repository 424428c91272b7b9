/**
 * A fake Docker Engine API served on an effect HttpClient (no socket): containers, a clock, an event
 * ring that `since` replays from, and a live event stream whose unread backlog tests can observe.
 */
import { Effect, Layer } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"

export interface FakeContainer {
  Id: string
  Name: string
  State: { Pid: number; Running: boolean; Paused: boolean; Status: string }
  Config: { Labels: Record<string, string> | null }
}

interface LiveStream {
  readonly pending: Array<string>
  wake: (() => void) | undefined
  cut: ((error: Error) => void) | undefined
  closed: boolean
}

export interface FakeDockerOptions {
  readonly apiVersion?: string
  /** Answer /_ping without an Api-Version header (a socket that is not Docker's). */
  readonly notDocker?: boolean
  /** Answer as Podman does (Libpod-Api-Version, the native libpod list). */
  readonly podman?: boolean
  /** Never answer these paths (for deadline tests). */
  readonly hangOn?: RegExp
}

export const makeFakeDocker = (options: FakeDockerOptions = {}) => {
  const apiVersion = options.apiVersion ?? "1.41"
  const containers = new Map<string, FakeContainer>()
  const ring: Array<{ readonly nanos: bigint; readonly line: string }> = []
  const requests: Array<string> = []
  const streams: Array<LiveStream> = []
  // The daemon's clock, in nanoseconds: advances 1 ms per event so that times are distinct.
  let clock = 1_796_195_795_909_192_363n

  const nowIso = () => {
    const millis = Number(clock / 1_000_000n)
    const nanos = (clock % 1_000_000_000n).toString().padStart(9, "0")
    return new Date(millis).toISOString().replace(/\.\d{3}Z$/, `.${nanos}Z`)
  }

  const pushLine = (line: string) => {
    for (const stream of streams) {
      if (stream.closed) continue
      stream.pending.push(line)
      stream.wake?.()
    }
  }

  /** Records an event in the ring and sends it to every open stream. */
  const emit = (type: string, action: string, id: string, attributes: Record<string, string> = {}) => {
    clock += 1_000_000n
    const seconds = clock / 1_000_000_000n
    // timeNano written as digits: it is larger than 2^53.
    const line = `{"Type":${JSON.stringify(type)},"Action":${JSON.stringify(action)},"Actor":{"ID":${
      JSON.stringify(id)
    },"Attributes":${JSON.stringify(attributes)}},"scope":"local","time":${seconds},"timeNano":${clock}}`
    ring.push({ nanos: clock, line })
    if (ring.length > 256) ring.shift()
    pushLine(line)
  }

  const attributesOf = (container: FakeContainer) => ({
    ...(container.Config.Labels ?? {}),
    image: "busybox",
    name: container.Name.slice(1)
  })

  const add = (id: string, name: string, labels: Record<string, string> = {}) => {
    const container: FakeContainer = {
      Id: id,
      Name: `/${name}`,
      State: { Pid: 0, Running: false, Paused: false, Status: "created" },
      Config: { Labels: labels }
    }
    containers.set(id, container)
    emit("container", "create", id, attributesOf(container))
    return container
  }
  const start = (id: string, pid: number) => {
    const container = containers.get(id)!
    container.State = { Pid: pid, Running: true, Paused: false, Status: "running" }
    emit("container", "start", id, attributesOf(container))
  }
  const pause = (id: string) => {
    const container = containers.get(id)!
    container.State = { ...container.State, Paused: true, Status: "paused" }
    emit("container", "pause", id, attributesOf(container))
  }
  const unpause = (id: string) => {
    const container = containers.get(id)!
    container.State = { ...container.State, Paused: false, Status: "running" }
    emit("container", "unpause", id, attributesOf(container))
  }
  const die = (id: string, exitCode: number) => {
    const container = containers.get(id)!
    container.State = { Pid: 0, Running: false, Paused: false, Status: "exited" }
    emit("container", "die", id, { ...attributesOf(container), exitCode: String(exitCode) })
  }
  const rename = (id: string, name: string) => {
    const container = containers.get(id)!
    const oldName = container.Name
    container.Name = `/${name}`
    emit("container", "rename", id, { ...attributesOf(container), oldName })
  }
  const execDie = (id: string, exitCode: number) =>
    emit("container", "exec_die", id, { ...attributesOf(containers.get(id)!), execID: "e1", exitCode: String(exitCode) })
  /** Sends a raw line to every open stream (not recorded in the ring). */
  const sendRaw = (line: string) => pushLine(line)
  /** Breaks every open stream as a daemon crash would (the last chunk never comes). */
  const cutStreams = () => {
    for (const stream of streams) {
      stream.closed = true
      stream.cut?.(Object.assign(new Error("aborted"), { code: "ECONNRESET" }))
    }
  }
  /** Event lines written to open streams and not yet read by the client. */
  const unread = () => streams.reduce((sum, stream) => sum + stream.pending.length, 0)

  const findContainer = (nameOrId: string): FakeContainer | "ambiguous" | undefined => {
    const byId = containers.get(nameOrId)
    if (byId !== undefined) return byId
    const byName = [...containers.values()].find((c) => c.Name === `/${nameOrId}` || c.Name === nameOrId)
    if (byName !== undefined) return byName
    const byPrefix = [...containers.values()].filter((c) => c.Id.startsWith(nameOrId))
    return byPrefix.length > 1 ? "ambiguous" : byPrefix[0]
  }

  const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

  const eventStream = (
    since: bigint | undefined,
    filters: { event?: Array<string>; type?: Array<string> },
    signal: AbortSignal
  ) => {
    const matches = (line: string) => {
      const parsed = JSON.parse(line) as { Type: string; Action: string }
      return (filters.type === undefined || filters.type.includes(parsed.Type)) &&
        (filters.event === undefined || filters.event.includes(parsed.Action))
    }
    const stream: LiveStream = { pending: [], wake: undefined, cut: undefined, closed: false }
    if (since !== undefined) for (const event of ring) if (event.nanos >= since) stream.pending.push(event.line)
    streams.push(stream)
    // The client aborts the request when the subscription's scope closes.
    signal.addEventListener("abort", () => {
      stream.closed = true
      stream.cut?.(new Error("aborted by the client"))
    }, { once: true })
    const encoder = new TextEncoder()
    return new ReadableStream<Uint8Array>({
      pull: (controller) =>
        new Promise<void>((resolve) => {
          // A pull that enqueues nothing is not repeated by the stream: wait for a line that passes.
          const deliver = () => {
            stream.wake = undefined
            stream.cut = undefined
            for (let line = stream.pending.shift(); line !== undefined; line = stream.pending.shift()) {
              // Raw lines (garbage, tests' own) pass; events pass the stream's filters.
              if (!line.startsWith("{\"Type\"") || matches(line)) {
                controller.enqueue(encoder.encode(`${line}\n`))
                return resolve()
              }
            }
            wait()
          }
          const wait = () => {
            if (stream.closed) {
              controller.error(Object.assign(new Error("aborted"), { code: "ECONNRESET" }))
              return resolve()
            }
            stream.wake = deliver
            stream.cut = (error) => {
              controller.error(error)
              resolve()
            }
          }
          deliver()
        }),
      cancel: () => {
        stream.closed = true
      }
    }, { highWaterMark: 0 })
  }

  const route = (method: string, url: URL, signal: AbortSignal): Response | undefined => {
    const path = url.pathname
    if (path === "/_ping") {
      return new Response("OK", {
        status: 200,
        headers: options.notDocker
          ? {}
          : options.podman
          ? { "api-version": apiVersion, "libpod-api-version": "4.3.1", server: "Libpod/4.3.1 (linux)" }
          : { "api-version": apiVersion, server: "Docker/20.10.24 (linux)" }
      })
    }
    const versioned = /^\/v\d+\.\d+(\/.*)$/.exec(path)
    if (versioned === null) return json({ message: "page not found" }, 404)
    const rest = versioned[1]!
    if (rest === "/info") {
      // Podman 4.3 makes up a new ID on every call.
      const id = options.podman ? crypto.randomUUID() : "FAKE:DOCKER:ID"
      return json({ ID: id, ServerVersion: "20.10.24", SystemTime: nowIso(), Unknown: 1 })
    }
    if (rest === "/libpod/info" && options.podman) {
      return json({ host: { hostname: "fakehost", arch: "amd64" }, store: { graphRoot: "/var/lib/containers/storage" } })
    }
    if (rest === "/version") return json({ Version: "20.10.24", ApiVersion: apiVersion, Os: "linux" })
    if (rest === "/containers/json") {
      const filters = JSON.parse(url.searchParams.get("filters") ?? "{}") as { status?: Array<string> }
      const all = url.searchParams.get("all") === "1"
      const listed = [...containers.values()].filter((c) =>
        filters.status !== undefined ? filters.status.includes(c.State.Status) : all || c.State.Running
      )
      return json(listed.map((c) => ({ Id: c.Id, Names: [c.Name], Labels: c.Config.Labels, State: c.State.Status, Extra: [] })))
    }
    if (rest === "/libpod/containers/json" && options.podman) {
      const filters = JSON.parse(url.searchParams.get("filters") ?? "{}") as { status?: Array<string> }
      const listed = [...containers.values()].filter((c) => filters.status?.includes(c.State.Status) ?? c.State.Running)
      return json(listed.map((c) => ({ Id: c.Id, Names: [c.Name.slice(1)], Labels: c.Config.Labels, Pid: c.State.Pid, State: c.State.Status, Pod: "" })))
    }
    const inspect = /^\/containers\/([^/]+)\/json$/.exec(rest)
    if (inspect !== null) {
      const found = findContainer(decodeURIComponent(inspect[1]!))
      if (found === "ambiguous") return json({ message: "multiple IDs found with provided prefix" }, 400)
      if (found === undefined) return json({ message: `No such container: ${inspect[1]}` }, 404)
      return json({ ...found, HostConfig: { Privileged: false }, NewField: { x: 1 } })
    }
    if (rest === "/events") {
      const sinceText = url.searchParams.get("since")
      const since = sinceText === null
        ? undefined
        : BigInt(sinceText.split(".")[0]!) * 1_000_000_000n + BigInt((sinceText.split(".")[1] ?? "0").padEnd(9, "0"))
      const filters = JSON.parse(url.searchParams.get("filters") ?? "{}")
      return new Response(eventStream(since, filters, signal), { status: 200, headers: { "content-type": "application/json" } })
    }
    return method === "GET" ? json({ message: "page not found" }, 404) : undefined
  }

  const httpClient = HttpClient.make((request, url, signal) => {
    requests.push(`${request.method} ${url.pathname}${url.search}`)
    if (options.hangOn?.test(url.pathname)) return Effect.never
    return Effect.sync(() => HttpClientResponse.fromWeb(request, route(request.method, url, signal) ?? json({}, 405)))
  })

  return {
    containers,
    requests,
    add,
    start,
    pause,
    unpause,
    die,
    rename,
    execDie,
    emit,
    sendRaw,
    cutStreams,
    unread,
    openStreams: () => streams.filter((stream) => !stream.closed).length,
    layer: Layer.succeed(HttpClient.HttpClient, httpClient)
  }
}

export type FakeDocker = ReturnType<typeof makeFakeDocker>
