/**
 * The baselines' clients, with nothing of ours in between: the generated connect-es clients from
 * gen/ over a connect-node gRPC transport built the way ContainerdConnection builds its own (our
 * `Http2SessionManager` on `net.connect(socket)`, no compression, 16 MiB messages), and the same
 * services through @grpc/grpc-js with @grpc/proto-loader reading our proto/ files.
 *
 * Runtime-neutral (node: modules and the library's constants): the transport benchmark imports
 * this under Node, Deno and Bun. grpc-js is loaded lazily so that a runtime on which it fails
 * still measures connect.
 */
import * as net from "node:net"
import * as path from "node:path"
import { createClient, type Interceptor } from "@connectrpc/connect"
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node"
import { Containers } from "../../gen/containerd/services/containers/v1/containers_pb.ts"
import { Events } from "../../gen/containerd/services/events/v1/events_pb.ts"
import { Namespaces } from "../../gen/containerd/services/namespaces/v1/namespace_pb.ts"
import { Tasks } from "../../gen/containerd/services/tasks/v1/tasks_pb.ts"
import { Version } from "../../gen/containerd/services/version/v1/version_pb.ts"
import { type ContainerdClients, MaxMessageBytes, NamespaceHeader } from "../../src/containerd/ContainerdConnection.ts"


/** The library's clients but Introspection, which the benchmarks do not call. */
export interface BareClients extends Omit<ContainerdClients, "introspection"> {
  /** Closes the HTTP/2 session. */
  readonly close: () => void
}

/** One HTTP/2 session over the socket, as ContainerdConnection opens it, with bare generated clients. */
export const bareConnect = (socketPath: string, interceptors: ReadonlyArray<Interceptor> = []): BareClients => {
  const sessionManager = new Http2SessionManager("http://localhost", { connectTimeoutMs: 5_000 }, {
    createConnection: () => net.connect(socketPath)
  })
  const transport = createGrpcTransport({
    baseUrl: "http://localhost",
    sessionManager,
    acceptCompression: [],
    readMaxBytes: MaxMessageBytes,
    writeMaxBytes: MaxMessageBytes,
    interceptors: [...interceptors]
  })
  return {
    namespaces: createClient(Namespaces, transport),
    containers: createClient(Containers, transport),
    tasks: createClient(Tasks, transport),
    events: createClient(Events, transport),
    version: createClient(Version, transport),
    close: () => sessionManager.abort()
  }
}

/** The call options that select a containerd namespace. */
export const inNamespace = (namespace: string) => ({ headers: { [NamespaceHeader]: namespace } })

/**
 * The RPCs of a sync, bare: Namespaces.List, then Containers.List and Tasks.List of every
 * namespace, all namespaces at once. No filtering, no mapping: the answers are returned as decoded.
 */
export const bareSync = async (clients: BareClients): Promise<number> => {
  const { namespaces } = await clients.namespaces.list({})
  const perNamespace = await Promise.all(namespaces.map(({ name }) =>
    Promise.all([clients.containers.list({}, inNamespace(name)), clients.tasks.list({}, inNamespace(name))])
  ))
  return perNamespace.reduce((sum, [, tasks]) => sum + tasks.tasks.length, 0)
}

/** Counts RPCs by `Service.Method` on a connect transport. */
export const countingInterceptor = (counts: Map<string, number>): Interceptor => (next) => (request) => {
  const key = `${request.service.name}.${request.method.name}`
  counts.set(key, (counts.get(key) ?? 0) + 1)
  return next(request)
}

export const totalCount = (counts: ReadonlyMap<string, number>): number =>
  [...counts.values()].reduce((sum, n) => sum + n, 0)

export const describeCounts = (counts: ReadonlyMap<string, number>): string =>
  [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, n]) => `${key} ${n}`).join(", ")

// -------------------------------------------------------------------------------------------------
// grpc-js
// -------------------------------------------------------------------------------------------------

type Callback<A> = (error: Error | null, value?: A) => void

/** The slice of a grpc-js generated client the benchmarks call (proto-loader gives untyped constructors). */
interface GrpcUnary {
  [method: string]: (request: object, metadata: unknown, options: object, callback: Callback<any>) => unknown
}

interface GrpcStreaming {
  [method: string]: (request: object, metadata: unknown) => AsyncIterable<any> & { cancel(): void }
}

export interface GrpcJsClients {
  readonly namespacesList: () => Promise<{ namespaces: Array<{ name: string }> }>
  readonly containersList: (namespace: string) => Promise<{ containers: Array<unknown> }>
  readonly tasksList: (namespace: string) => Promise<{ tasks: Array<unknown> }>
  readonly version: () => Promise<{ version: string }>
  /** A server stream of envelopes; `cancel` ends it. */
  readonly subscribe: (filters: ReadonlyArray<string>) => AsyncIterable<any> & { cancel(): void }
  readonly close: () => void
}

const protoRoot = path.resolve(import.meta.dirname, "../../proto")

/**
 * grpc-js clients for the same services, all on one channel (one HTTP/2 connection) to
 * `unix://<socket>`, with the same 16 MiB message limits.
 */
export const grpcJs = async (socketPath: string): Promise<GrpcJsClients> => {
  const grpc = await import("@grpc/grpc-js")
  const loader = await import("@grpc/proto-loader")
  const files = [
    "containerd/services/namespaces/v1/namespace.proto",
    "containerd/services/containers/v1/containers.proto",
    "containerd/services/tasks/v1/tasks.proto",
    "containerd/services/events/v1/events.proto",
    "containerd/services/version/v1/version.proto"
  ]
  const definition = loader.loadSync(files, {
    includeDirs: [protoRoot],
    longs: String,
    enums: Number,
    defaults: true,
    oneofs: true
  })
  const loaded = grpc.loadPackageDefinition(definition) as any
  const options = {
    "grpc.max_receive_message_length": MaxMessageBytes,
    "grpc.max_send_message_length": MaxMessageBytes
  }
  const target = `unix://${socketPath}`
  const channel = new grpc.Channel(target, grpc.credentials.createInsecure(), options)
  const make = (ctor: any) => new ctor(target, grpc.credentials.createInsecure(), { ...options, channelOverride: channel })
  const services = loaded.containerd.services
  const namespaces: GrpcUnary = make(services.namespaces.v1.Namespaces)
  const containers: GrpcUnary = make(services.containers.v1.Containers)
  const tasks: GrpcUnary = make(services.tasks.v1.Tasks)
  const version: GrpcUnary = make(services.version.v1.Version)
  const events: GrpcStreaming = make(services.events.v1.Events)

  const metadataFor = (namespace: string | undefined) => {
    const metadata = new grpc.Metadata()
    if (namespace !== undefined) metadata.set(NamespaceHeader, namespace)
    return metadata
  }
  const unary = <A>(client: GrpcUnary, method: string, namespace?: string): Promise<A> =>
    new Promise((resolve, reject) =>
      client[method]!({}, metadataFor(namespace), {}, (error, value) => error === null ? resolve(value) : reject(error))
    )

  return {
    namespacesList: () => unary(namespaces, "List"),
    containersList: (namespace) => unary(containers, "List", namespace),
    tasksList: (namespace) => unary(tasks, "List", namespace),
    version: () => unary(version, "Version"),
    subscribe: (filters) => events["Subscribe"]!({ filters: [...filters] }, metadataFor(undefined)),
    close: () => channel.close()
  }
}

/** The sync's RPCs through grpc-js, in the same order and concurrency as {@link bareSync}. */
export const grpcJsSync = async (clients: GrpcJsClients): Promise<number> => {
  const { namespaces } = await clients.namespacesList()
  const perNamespace = await Promise.all(namespaces.map(({ name }) =>
    Promise.all([clients.containersList(name), clients.tasksList(name)])
  ))
  return perNamespace.reduce((sum, [, tasks]) => sum + tasks.tasks.length, 0)
}
