import * as fs from "node:fs"
import * as http2 from "node:http2"
import * as os from "node:os"
import * as path from "node:path"
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { Events } from "../../gen/containerd/services/events/v1/events_pb.ts"
import { Version } from "../../gen/containerd/services/version/v1/version_pb.ts"
import { ContainerdConnection } from "../../src/containerd/index.ts"
import { EngineError } from "../../src/index.ts"
import { FakeContainerd } from "../../src/testing/index.ts"
import { eventually } from "../eventually.ts"

const subscribeAll = (connection: ContainerdConnection.ContainerdConnectionShape) =>
  connection.stream("Events.Subscribe", (clients, options) => clients.events.subscribe({ filters: [] }, options))

const version = (connection: ContainerdConnection.ContainerdConnectionShape) =>
  connection.call("Version.Version", (clients, options) => clients.version.version({}, options))

/** Builds a connection layer into the current scope and returns the service. */
const connectionIn = (layer: Layer.Layer<ContainerdConnection.ContainerdConnection>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, ContainerdConnection.ContainerdConnection))

/** Serves `routes` with gRPC over HTTP/2 on a fresh unix socket; the scope closes the server. */
const serveOnSocket = (routes: (router: ConnectRouter) => void) =>
  Effect.acquireRelease(
    Effect.callback<{ socketPath: string; server: http2.Http2Server; sessions: Set<http2.ServerHttp2Session> }>(
      (resume) => {
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "wwu-"))
        const socketPath = path.join(directory, "grpc.sock")
        const server = http2.createServer(connectNodeAdapter({ routes }))
        const sessions = new Set<http2.ServerHttp2Session>()
        server.on("session", (session) => {
          sessions.add(session)
          session.on("close", () => sessions.delete(session))
        })
        server.listen(socketPath, () => resume(Effect.succeed({ socketPath, server, sessions })))
      }
    ),
    ({ server, sessions, socketPath }) =>
      Effect.callback<void>((resume) => {
        for (const session of sessions) session.destroy()
        server.close(() => {
          fs.rmSync(path.dirname(socketPath), { recursive: true, force: true })
          resume(Effect.void)
        })
      })
  )

describe("ContainerdConnection", () => {
  it("accepts a unix:// prefix and plain paths", () => {
    assert.strictEqual(ContainerdConnection.normalizeAddress("unix:///run/x.sock"), "/run/x.sock")
    assert.strictEqual(ContainerdConnection.normalizeAddress("/run/x.sock"), "/run/x.sock")
  })

  it.effect("sends the namespace header per call, and none when no namespace is given", () => {
    const fake = FakeContainerd.make()
    fake.addContainer({ namespace: "shop", id: "web" })
    fake.addContainer({ namespace: "default", id: "db" })
    return Effect.gen(function*() {
      const connection = yield* ContainerdConnection.ContainerdConnection
      const listed = yield* connection.call(
        "Containers.List",
        (clients, options) => clients.containers.list({}, options),
        { namespace: "shop" }
      )
      assert.deepStrictEqual(listed.containers.map((c) => c.id), ["web"])
      yield* connection.call("Namespaces.List", (clients, options) => clients.namespaces.list({}, options))
      assert.deepStrictEqual(fake.calls, [
        { method: "Containers.List", namespace: "shop" },
        { method: "Namespaces.List", namespace: undefined }
      ])
    }).pipe(Effect.provide(FakeContainerd.layer(fake)))
  })

  it.effect("maps a gRPC status to EngineRequestError with code, operation, namespace and address", () => {
    const fake = FakeContainerd.make()
    return Effect.gen(function*() {
      const connection = yield* ContainerdConnection.ContainerdConnection
      const error = yield* connection.call(
        "Containers.Get",
        (clients, options) => clients.containers.get({ id: "nope" }, options),
        { namespace: "default" }
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "EngineRequestError")
      if (error._tag !== "EngineRequestError") return
      assert.strictEqual(error.code, "NotFound")
      assert.strictEqual(error.namespace, "default")
      assert.strictEqual(error.address, "fake://containerd")
      assert.include(error.message, "Containers.Get in namespace default at fake://containerd failed with NotFound")
      assert.isFalse(error.isRetryable)
      assert.isTrue(EngineError.isEngineError(error))
    }).pipe(Effect.provide(FakeContainerd.layer(fake)))
  })

  it.effect("maps an Unavailable status to EngineUnavailable", () => {
    const fake = FakeContainerd.make()
    fake.failNext("Version.Version", Code.Unavailable, "shutting down")
    return Effect.gen(function*() {
      const error = yield* version(yield* ContainerdConnection.ContainerdConnection).pipe(Effect.flip)
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag === "EngineUnavailable") {
        assert.strictEqual(error.reason, "Unavailable")
        assert.isTrue(error.isRetryable)
      }
    }).pipe(Effect.provide(FakeContainerd.layer(fake)))
  })

  it.live("interrupting a stream consumer ends the server-side subscription at once", () => {
    const fake = FakeContainerd.make()
    return Effect.gen(function*() {
      const connection = yield* ContainerdConnection.ContainerdConnection
      const fiber = yield* subscribeAll(connection).pipe(Stream.runDrain, Effect.forkChild)
      yield* eventually(() => fake.subscriberCount === 1, "the server has the subscription")
      yield* Fiber.interrupt(fiber)
      // the router transport's handler sees the abort on its next tick
      yield* eventually(() => fake.subscriberCount === 0, "the server-side subscription ended")
    }).pipe(Effect.provide(FakeContainerd.layer(fake)))
  })

  it.live("a stream that fails mid-way surfaces a typed error", () => {
    const fake = FakeContainerd.make()
    return Effect.gen(function*() {
      const connection = yield* ContainerdConnection.ContainerdConnection
      const fiber = yield* subscribeAll(connection).pipe(Stream.runDrain, Effect.flip, Effect.forkChild)
      yield* eventually(() => fake.subscriberCount === 1, "the server has the subscription")
      fake.dropSubscriptions(Code.Unavailable, "gone")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "EngineUnavailable")
    }).pipe(Effect.provide(FakeContainerd.layer(fake)))
  })

  it.effect("refuses calls after its scope closed, naming the address", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const connection = yield* connectionIn(
        ContainerdConnection.layer({ address: "unix:///nonexistent/containerd.sock" })
      ).pipe(Scope.provide(scope))
      assert.strictEqual(connection.address, "/nonexistent/containerd.sock")
      yield* Scope.close(scope, Exit.void)
      const error = yield* version(connection).pipe(Effect.flip)
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag === "EngineUnavailable") {
        assert.strictEqual(error.reason, "Closed")
        assert.isFalse(error.isRetryable)
      }
    }))
})

describe("ContainerdConnection on a unix socket", () => {
  it.effect("a missing socket is SocketNotFound with the path", () =>
    Effect.gen(function*() {
      const connection = yield* ContainerdConnection.ContainerdConnection
      const error = yield* version(connection).pipe(Effect.flip)
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag !== "EngineUnavailable") return
      assert.strictEqual(error.reason, "SocketNotFound")
      assert.strictEqual(error.address, "/nonexistent-ww/containerd.sock")
      assert.include(error.message, "/nonexistent-ww/containerd.sock")
      assert.include(error.message, "is the engine running?")
    }).pipe(Effect.provide(ContainerdConnection.layer({ address: "/nonexistent-ww/containerd.sock" }))))

  it.effect("an empty address is SocketNotFound, for calls and streams (not a dial of some TCP port)", () =>
    Effect.gen(function*() {
      const connection = yield* ContainerdConnection.ContainerdConnection
      const error = yield* version(connection).pipe(Effect.flip)
      assert.strictEqual(error._tag === "EngineUnavailable" && error.reason, "SocketNotFound")
      assert.include(error.message, "no socket path given")
      const streamError = yield* subscribeAll(connection).pipe(Stream.runDrain, Effect.flip)
      assert.strictEqual(streamError._tag === "EngineUnavailable" && streamError.reason, "SocketNotFound")
    }).pipe(Effect.provide(ContainerdConnection.layer({ address: "" }))))

  it.effect("a regular file at the path is NotASocket (Linux refuses the connect as for a dead socket)", () =>
    Effect.gen(function*() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "wwu-"))
      const socketPath = path.join(directory, "file.sock")
      fs.writeFileSync(socketPath, "")
      const error = yield* ContainerdConnection.ContainerdConnection.pipe(
        Effect.flatMap(version),
        Effect.flip,
        Effect.provide(ContainerdConnection.layer({ address: socketPath })),
        Effect.ensuring(Effect.sync(() => fs.rmSync(directory, { recursive: true })))
      )
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag === "EngineUnavailable") {
        assert.strictEqual(error.reason, "NotASocket")
        assert.include(error.message, "is not a socket")
      }
    }))

  it.live("a unary call past its deadline is DeadlineExceeded", () =>
    Effect.gen(function*() {
      const { socketPath } = yield* serveOnSocket((router) =>
        router.service(Version, {
          version: () => new Promise(() => {})
        })
      )
      const connection = yield* connectionIn(
        ContainerdConnection.layer({ address: socketPath, unaryTimeout: "100 millis" })
      )
      const error = yield* version(connection).pipe(Effect.flip)
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag === "EngineUnavailable") assert.strictEqual(error.reason, "DeadlineExceeded")
    }).pipe(Effect.scoped))

  it.live("a server that drops the connection mid-stream is ConnectionLost", () =>
    Effect.gen(function*() {
      let streamOpened: () => void = () => {}
      const opened = new Promise<void>((resolve) => (streamOpened = resolve))
      const { sessions, socketPath } = yield* serveOnSocket((router) =>
        router.service(Events, {
          publish: () => ({}),
          subscribe: async function*() {
            streamOpened()
            await new Promise(() => {})
          }
        })
      )
      const connection = yield* connectionIn(ContainerdConnection.layer({ address: socketPath }))
      const fiber = yield* subscribeAll(connection).pipe(Stream.runDrain, Effect.flip, Effect.forkChild)
      yield* Effect.promise(() => opened)
      for (const session of sessions) session.destroy()
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "EngineUnavailable")
      if (error._tag === "EngineUnavailable") {
        assert.strictEqual(error.reason, "ConnectionLost")
        assert.strictEqual(error.address, socketPath)
        assert.isTrue(error.isRetryable)
      }
    }).pipe(Effect.scoped))

  it.live("interrupting a consumer cancels the server stream over the socket", () =>
    Effect.gen(function*() {
      let streamOpened: () => void = () => {}
      let streamAborted: () => void = () => {}
      const opened = new Promise<void>((resolve) => (streamOpened = resolve))
      const aborted = new Promise<void>((resolve) => (streamAborted = resolve))
      const { socketPath } = yield* serveOnSocket((router) =>
        router.service(Events, {
          publish: () => ({}),
          subscribe: async function*(_request, context) {
            context.signal.addEventListener("abort", () => streamAborted())
            streamOpened()
            await new Promise(() => {})
          }
        })
      )
      const connection = yield* connectionIn(ContainerdConnection.layer({ address: socketPath }))
      const fiber = yield* subscribeAll(connection).pipe(Stream.runDrain, Effect.forkChild)
      yield* Effect.promise(() => opened)
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => aborted).pipe(Effect.timeout("2 seconds"))
    }).pipe(Effect.scoped))
})

describe("classifyError", () => {
  // Errors exactly as connect-es surfaces them in Node, Deno and Bun (see the README's error table).
  const classify = (error: unknown, abortedByUs = false) =>
    import("../../src/containerd/internal/classifyError.ts").then(({ classifyError }) =>
      classifyError(error, { address: "/s.sock", operation: "Op", abortedByUs })
    )
  const systemError = (code: string) => Object.assign(new Error(`connect ${code} /s.sock`), { code })

  it("ENOENT, EACCES, ECONNREFUSED causes", async () => {
    const reasonOf = async (error: unknown) => {
      const classified = await classify(error)
      return classified._tag === "EngineUnavailable" ? classified.reason : classified._tag
    }
    assert.strictEqual(await reasonOf(new ConnectError("x", Code.Internal, undefined, undefined, systemError("ENOENT"))), "SocketNotFound")
    assert.strictEqual(await reasonOf(new ConnectError("x", Code.Internal, undefined, undefined, systemError("EACCES"))), "PermissionDenied")
    assert.strictEqual(await reasonOf(new ConnectError("x", Code.Unavailable, undefined, undefined, systemError("ECONNREFUSED"))), "NotListening")
    assert.strictEqual(await reasonOf(new ConnectError("http/2 stream closed with error code CANCEL", Code.Canceled)), "ConnectionLost")
    assert.strictEqual(await reasonOf(new ConnectError("Session closed with error code 8", Code.Internal)), "ConnectionLost")
    assert.strictEqual(await reasonOf(new ConnectError("protocol error: missing status", Code.Internal)), "ConnectionLost")
    assert.strictEqual(await reasonOf(new ConnectError("boom", Code.Internal)), "EngineRequestError")
  })

  it("a cancel we caused is Closed, not a lost connection", async () => {
    const classified = await classify(new ConnectError("operation was aborted", Code.Canceled), true)
    assert.strictEqual(classified._tag === "EngineUnavailable" && classified.reason, "Closed")
  })
})
