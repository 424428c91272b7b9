/**
 * A fake containerd in memory, served through connect's router transport: the same typed
 * clients, headers and error codes as the real one, without a socket or a daemon. It keeps
 * namespaces, containers and tasks, publishes the events real containerd would, and lets tests
 * script faults (failing or slowed calls, hooks that run while a call is in flight, dropped
 * event streams) and count the RPCs made.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { FakeContainerd } from "effect-whalewatcher/testing"
 *
 * const fake = FakeContainerd.make()
 * fake.addContainer({ namespace: "default", id: "web", labels: { "nerdctl/name": "web" } })
 * fake.startTask({ namespace: "default", id: "web", pid: 42 })
 * const layer = FakeContainerd.layer(fake) // provides ContainerdConnection
 * ```
 * @since 0.1.0
 */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf"
import { type Any, anyPack, timestampNow } from "@bufbuild/protobuf/wkt"
import { Code, ConnectError, createRouterTransport, type HandlerContext, type Transport } from "@connectrpc/connect"
import type { Layer } from "effect"
import {
  ContainerUpdateSchema
} from "../../gen/containerd/events/container_pb.ts"
import {
  TaskExitSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema
} from "../../gen/containerd/events/task_pb.ts"
import {
  type Container,
  Containers,
  ContainerSchema
} from "../../gen/containerd/services/containers/v1/containers_pb.ts"
import { type Envelope, EnvelopeSchema, Events } from "../../gen/containerd/services/events/v1/events_pb.ts"
import { Introspection } from "../../gen/containerd/services/introspection/v1/introspection_pb.ts"
import { Namespaces } from "../../gen/containerd/services/namespaces/v1/namespace_pb.ts"
import { Tasks } from "../../gen/containerd/services/tasks/v1/tasks_pb.ts"
import { Version } from "../../gen/containerd/services/version/v1/version_pb.ts"
import { type Process, ProcessSchema, Status } from "../../gen/containerd/types/task_pb.ts"
import * as ContainerdConnection from "../containerd/ContainerdConnection.ts"

/**
 * The RPCs the fake serves, by `Service.Method` name.
 *
 * @category models
 * @since 0.1.0
 */
export type FakeMethod =
  | "Namespaces.List"
  | "Containers.Get"
  | "Containers.List"
  | "Containers.ListStream"
  | "Tasks.Get"
  | "Tasks.List"
  | "Events.Publish"
  | "Events.Subscribe"
  | "Version.Version"
  | "Introspection.Server"

/**
 * One RPC as the fake received it.
 *
 * @category models
 * @since 0.1.0
 */
export interface FakeCall {
  /** The RPC, as `Service.Method`. */
  readonly method: FakeMethod
  /** The `containerd-namespace` header, when the call had one. */
  readonly namespace: string | undefined
}

/**
 * A hook run when a call arrives, before it is answered; it may change the fake's state (to
 * simulate a race with the call) and may return a promise to hold the answer back.
 *
 * @category models
 * @since 0.1.0
 */
export type CallHook = (call: FakeCall) => void | Promise<void>

interface NamespaceState {
  readonly containers: Map<string, Container>
  readonly tasks: Map<string, Process>
}

interface Subscriber {
  readonly filters: ReadonlyArray<string>
  readonly queue: Array<Envelope>
  wake: (() => void) | undefined
  failure: ConnectError | undefined
}

/**
 * The in-memory containerd. Its methods change state synchronously and publish the matching
 * events to every live subscription, as containerd does.
 *
 * @category models
 * @since 0.1.0
 */
export class FakeContainerd {
  /** The engine version the fake reports. */
  version = "1.6.20-fake"
  /** The engine revision the fake reports. */
  revision = "fake"
  /** The Introspection uuid the fake reports. */
  uuid = "00000000-0000-4000-8000-000000000000"
  /** The engine pid reported by Introspection (0: not reported, as containerd 1.6). */
  pid = 0
  /** Every RPC received, in order. */
  readonly calls: Array<FakeCall> = []

  readonly #namespaces = new Map<string, NamespaceState>()
  readonly #subscribers = new Set<Subscriber>()
  readonly #hooks = new Map<FakeMethod, Array<CallHook>>()
  readonly #failures = new Map<FakeMethod, Array<ConnectError>>()

  /** The connect transport serving this fake; give it to `ContainerdConnection.layerTransport`. */
  readonly transport: Transport = createRouterTransport((router) => {
    router.service(Namespaces, {
      list: async (_request, context) => {
        await this.#enter("Namespaces.List", context)
        return { namespaces: [...this.#namespaces.keys()].map((name) => ({ name, labels: {} })) }
      }
    })
    router.service(Containers, {
      get: async (request, context) => {
        const state = await this.#enterNamespaced("Containers.Get", context)
        const container = state.containers.get(request.id)
        if (container === undefined) {
          throw new ConnectError(`container "${request.id}" in namespace "${namespaceOf(context)}": not found`, Code.NotFound)
        }
        return { container }
      },
      list: async (request, context) => {
        const state = await this.#enterNamespaced("Containers.List", context)
        return { containers: [...state.containers.values()].filter(containerFilter(request.filters)) }
      },
      listStream: (request, context) => this.#listStream(request.filters, context)
    })
    router.service(Tasks, {
      get: async (request, context) => {
        const state = await this.#enterNamespaced("Tasks.Get", context)
        const task = state.tasks.get(request.containerId)
        if (task === undefined) throw new ConnectError(`task ${request.containerId} not found`, Code.NotFound)
        return { process: task }
      },
      list: async (_request, context) => {
        const state = await this.#enterNamespaced("Tasks.List", context)
        return { tasks: [...state.tasks.values()] }
      }
    })
    router.service(Events, {
      publish: async (request, context) => {
        await this.#enter("Events.Publish", context)
        const namespace = namespaceOf(context)
        if (namespace === undefined) throw new ConnectError("namespace is required", Code.FailedPrecondition)
        if (request.event === undefined) throw new ConnectError("event is required", Code.InvalidArgument)
        this.#publish(namespace, request.topic, request.event)
        return {}
      },
      subscribe: (request, context) => this.#subscribe(request.filters, context)
    })
    router.service(Version, {
      version: async (_request, context) => {
        await this.#enter("Version.Version", context)
        return { version: this.version, revision: this.revision }
      }
    })
    router.service(Introspection, {
      server: async (_request, context) => {
        await this.#enter("Introspection.Server", context)
        return { uuid: this.uuid, pid: BigInt(this.pid), pidns: 0n }
      }
    })
  })

  /** The number of event subscriptions currently open. */
  get subscriberCount(): number {
    return this.#subscribers.size
  }

  /** Counts the calls received, of one method or of all. */
  callCount(method?: FakeMethod): number {
    return method === undefined ? this.calls.length : this.calls.filter((call) => call.method === method).length
  }

  /** Runs `hook` on every later call of `method`, before it is answered. Returns a remover. */
  onCall(method: FakeMethod, hook: CallHook): () => void {
    const hooks = this.#hooks.get(method) ?? []
    hooks.push(hook)
    this.#hooks.set(method, hooks)
    return () => {
      const index = hooks.indexOf(hook)
      if (index >= 0) hooks.splice(index, 1)
    }
  }

  /** Makes the next call of `method` fail with `code` (queue several to fail several calls). */
  failNext(method: FakeMethod, code: Code = Code.Unavailable, message = "injected failure"): void {
    const failures = this.#failures.get(method) ?? []
    failures.push(new ConnectError(message, code))
    this.#failures.set(method, failures)
  }

  /** Ends every open event subscription with an error, as a lost connection does. */
  dropSubscriptions(code: Code = Code.Unavailable, message = "connection lost"): void {
    for (const subscriber of this.#subscribers) {
      subscriber.failure = new ConnectError(message, code)
      subscriber.wake?.()
    }
  }

  /** Creates a namespace (containers create theirs implicitly, as in containerd). */
  addNamespace(namespace: string): void {
    this.#namespace(namespace)
  }

  /** Creates a container (no task). Publishes nothing, like containerd's /containers/create which carries no labels. */
  addContainer(options: {
    readonly namespace: string
    readonly id: string
    readonly labels?: Record<string, string> | undefined
    readonly image?: string | undefined
  }): void {
    this.#namespace(options.namespace).containers.set(
      options.id,
      create(ContainerSchema, {
        id: options.id,
        labels: { ...options.labels },
        image: options.image ?? "",
        runtime: { name: "io.containerd.runc.v2" },
        createdAt: timestampNow(),
        updatedAt: timestampNow()
      })
    )
  }

  /** Replaces a container's labels and publishes /containers/update. */
  setLabels(options: { readonly namespace: string; readonly id: string; readonly labels: Record<string, string> }): void {
    const container = this.#container(options.namespace, options.id)
    container.labels = { ...options.labels }
    container.updatedAt = timestampNow()
    this.publish(options.namespace, "/containers/update", ContainerUpdateSchema, {
      id: options.id,
      image: container.image,
      labels: { ...options.labels }
    })
  }

  /** Removes a container and its task (no events: containerd would have published them before). */
  removeContainer(options: { readonly namespace: string; readonly id: string }): void {
    const state = this.#namespace(options.namespace)
    state.containers.delete(options.id)
    state.tasks.delete(options.id)
  }

  /** Creates the container's task in state CREATED (not yet alive). */
  createTask(options: { readonly namespace: string; readonly id: string; readonly pid: number }): void {
    this.#container(options.namespace, options.id)
    this.#namespace(options.namespace).tasks.set(
      options.id,
      create(ProcessSchema, { id: options.id, pid: options.pid, status: Status.CREATED })
    )
  }

  /** Starts the container's task (creating it if needed) and publishes /tasks/start. */
  startTask(options: { readonly namespace: string; readonly id: string; readonly pid: number }): void {
    this.#container(options.namespace, options.id)
    this.#namespace(options.namespace).tasks.set(
      options.id,
      create(ProcessSchema, { id: options.id, pid: options.pid, status: Status.RUNNING })
    )
    this.publish(options.namespace, "/tasks/start", TaskStartSchema, { containerId: options.id, pid: options.pid })
  }

  /** Sets a task's status without any event (e.g. PAUSING, UNKNOWN). */
  setTaskStatus(options: { readonly namespace: string; readonly id: string; readonly status: Status }): void {
    this.#task(options.namespace, options.id).status = options.status
  }

  /** Pauses the task and publishes /tasks/paused. */
  pauseTask(options: { readonly namespace: string; readonly id: string }): void {
    this.#task(options.namespace, options.id).status = Status.PAUSED
    this.publish(options.namespace, "/tasks/paused", TaskPausedSchema, { containerId: options.id })
  }

  /** Resumes the task and publishes /tasks/resumed. */
  resumeTask(options: { readonly namespace: string; readonly id: string }): void {
    this.#task(options.namespace, options.id).status = Status.RUNNING
    this.publish(options.namespace, "/tasks/resumed", TaskResumedSchema, { containerId: options.id })
  }

  /**
   * Ends the init process: the task becomes STOPPED (still listed, not alive) and /tasks/exit is
   * published with `id == container_id`.
   */
  exitTask(options: { readonly namespace: string; readonly id: string; readonly exitStatus?: number | undefined }): void {
    const task = this.#task(options.namespace, options.id)
    task.status = Status.STOPPED
    task.exitStatus = options.exitStatus ?? 0
    this.publish(options.namespace, "/tasks/exit", TaskExitSchema, {
      containerId: options.id,
      id: options.id,
      pid: task.pid,
      exitStatus: options.exitStatus ?? 0,
      exitedAt: timestampNow()
    })
  }

  /** Publishes the /tasks/exit of an exec'd process: the container keeps running. */
  execExit(options: {
    readonly namespace: string
    readonly id: string
    readonly execId: string
    readonly pid: number
    readonly exitStatus?: number | undefined
  }): void {
    this.publish(options.namespace, "/tasks/exit", TaskExitSchema, {
      containerId: options.id,
      id: options.execId,
      pid: options.pid,
      exitStatus: options.exitStatus ?? 0,
      exitedAt: timestampNow()
    })
  }

  /** Deletes the task (the container stays, processless). */
  deleteTask(options: { readonly namespace: string; readonly id: string }): void {
    this.#namespace(options.namespace).tasks.delete(options.id)
  }

  /** Publishes an event of any schema on `topic`, as containerd's Bare type URL. */
  publish<Desc extends DescMessage>(
    namespace: string,
    topic: string,
    schema: Desc,
    init: MessageInitShape<Desc>
  ): void {
    const event = anyPack(schema, create(schema, init))
    // containerd 1.6 puts the bare message name in type_url, not type.googleapis.com/...
    event.typeUrl = schema.typeName
    this.#publish(namespace, topic, event)
  }

  /** Publishes a raw envelope (e.g. a garbled payload) to every matching subscriber. */
  publishRaw(namespace: string, topic: string, event: Any): void {
    this.#publish(namespace, topic, event)
  }

  #publish(namespace: string, topic: string, event: Any): void {
    const envelope = create(EnvelopeSchema, { timestamp: timestampNow(), namespace, topic, event })
    for (const subscriber of this.#subscribers) {
      if (subscriber.filters.length === 0 || subscriber.filters.some((filter) => envelopeMatches(filter, envelope))) {
        subscriber.queue.push(envelope)
        subscriber.wake?.()
      }
    }
  }

  #namespace(namespace: string): NamespaceState {
    let state = this.#namespaces.get(namespace)
    if (state === undefined) {
      state = { containers: new Map(), tasks: new Map() }
      this.#namespaces.set(namespace, state)
    }
    return state
  }

  #container(namespace: string, id: string): Container {
    const container = this.#namespaces.get(namespace)?.containers.get(id)
    if (container === undefined) throw new Error(`fake containerd: no container ${namespace}/${id}`)
    return container
  }

  #task(namespace: string, id: string): Process {
    const task = this.#namespaces.get(namespace)?.tasks.get(id)
    if (task === undefined) throw new Error(`fake containerd: no task ${namespace}/${id}`)
    return task
  }

  async *#listStream(filters: ReadonlyArray<string>, context: HandlerContext) {
    const state = await this.#enterNamespaced("Containers.ListStream", context)
    for (const container of state.containers.values()) {
      if (containerFilter(filters)(container)) yield { container }
    }
  }

  async *#subscribe(filters: ReadonlyArray<string>, context: HandlerContext) {
    await this.#enter("Events.Subscribe", context)
    // Reject malformed filters up front, as containerd does.
    for (const filter of filters) parseFilter(filter)
    const subscriber: Subscriber = { filters, queue: [], wake: undefined, failure: undefined }
    this.#subscribers.add(subscriber)
    // The router transport stops pulling a cancelled stream without resuming a generator paused
    // at `yield`, so the subscription ends here, as containerd ends it on the client's cancel.
    const onAbort = () => {
      this.#subscribers.delete(subscriber)
      subscriber.wake?.()
    }
    context.signal.addEventListener("abort", onAbort)
    try {
      while (!context.signal.aborted) {
        const next = subscriber.queue.shift()
        if (next !== undefined) {
          yield next
          continue
        }
        if (subscriber.failure !== undefined) throw subscriber.failure
        await new Promise<void>((resolve) => (subscriber.wake = resolve))
        subscriber.wake = undefined
      }
    } finally {
      context.signal.removeEventListener("abort", onAbort)
      this.#subscribers.delete(subscriber)
    }
  }

  async #enter(method: FakeMethod, context: HandlerContext): Promise<void> {
    const call: FakeCall = { method, namespace: namespaceOf(context) }
    this.calls.push(call)
    for (const hook of [...(this.#hooks.get(method) ?? [])]) await hook(call)
    const failure = this.#failures.get(method)?.shift()
    if (failure !== undefined) throw failure
  }

  async #enterNamespaced(method: FakeMethod, context: HandlerContext): Promise<NamespaceState> {
    await this.#enter(method, context)
    const namespace = namespaceOf(context)
    if (namespace === undefined) throw new ConnectError("namespace is required", Code.FailedPrecondition)
    return this.#namespaces.get(namespace) ?? { containers: new Map(), tasks: new Map() }
  }
}

/**
 * A new, empty fake containerd.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): FakeContainerd => new FakeContainerd()

/**
 * A `ContainerdConnection` layer served by the fake.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  fake: FakeContainerd,
  options: ContainerdConnection.ContainerdConnectionOptions = {}
): Layer.Layer<ContainerdConnection.ContainerdConnection> =>
  ContainerdConnection.layerTransport(fake.transport, { address: "fake://containerd", ...options })

const namespaceOf = (context: HandlerContext): string | undefined =>
  context.requestHeader.get(ContainerdConnection.NamespaceHeader) ?? undefined

interface FilterClause {
  readonly path: ReadonlyArray<string>
  readonly operator: "==" | "!=" | "~="
  readonly value: string
}

// containerd's filter syntax: `fieldpath op value`, clauses joined by commas (AND); values quoted
// or bare; a path segment may be quoted (labels."nerdctl/name").
const clausePattern = /^\s*((?:[A-Za-z_][\w.]*|"[^"]*")(?:\.(?:[A-Za-z_]\w*|"[^"]*"))*)\s*(==|!=|~=)\s*("(?:[^"\\]|\\.)*"|[^,]*?)\s*$/

const splitOutsideQuotes = (text: string): Array<string> => {
  const parts: Array<string> = []
  let current = ""
  let quoted = false
  for (const char of text) {
    if (char === "\"") quoted = !quoted
    if (char === "," && !quoted) {
      parts.push(current)
      current = ""
    } else current += char
  }
  parts.push(current)
  return parts
}

const parseFilter = (filter: string): ReadonlyArray<FilterClause> =>
  splitOutsideQuotes(filter).map((clause) => {
    const match = clausePattern.exec(clause)
    if (match === null) throw new ConnectError(`invalid filter ${JSON.stringify(filter)}`, Code.InvalidArgument)
    const path = match[1]!.match(/"[^"]*"|[^."]+/g)!.map((segment) => segment.replace(/^"|"$/g, ""))
    const raw = match[3]!
    const value = raw.startsWith("\"") ? JSON.parse(raw) as string : raw
    return { path, operator: match[2] as FilterClause["operator"], value }
  })

const clauseMatches = (clause: FilterClause, actual: string | undefined): boolean => {
  switch (clause.operator) {
    case "==":
      return actual === clause.value
    case "!=":
      return actual !== clause.value
    case "~=":
      return actual !== undefined && new RegExp(clause.value).test(actual)
  }
}

const envelopeMatches = (filter: string, envelope: Envelope): boolean =>
  parseFilter(filter).every((clause) => {
    const field = clause.path[0]
    const actual = field === "topic" ? envelope.topic : field === "namespace" ? envelope.namespace : undefined
    return clauseMatches(clause, actual)
  })

const containerFilter = (filters: ReadonlyArray<string>) => (container: Container): boolean =>
  filters.length === 0 ||
  filters.some((filter) =>
    parseFilter(filter).every((clause) => {
      const [field, key] = clause.path
      const actual = field === "id"
        ? container.id
        : field === "image"
        ? container.image
        : field === "labels" && key !== undefined
        ? container.labels[key]
        : undefined
      return clauseMatches(clause, actual)
    })
  )
