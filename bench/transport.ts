/**
 * Transport benchmark on whichever runtime runs this file (Node, Deno or Bun; bench/run.ts starts
 * it under each as a subprocess), for connect-es and grpc-js side by side in the same process,
 * taking turns so that drift on the machine hits both alike:
 *
 * - unary: sequential Version calls on one warm connection per library, per-call time;
 * - stream: an Events.Subscribe stream delivering a backlog of messages.
 *
 * The stream needs that many real events. They are published with Events.Publish (topic
 * `/bench/<token>`, namespace `bench`) from a separate connection while every subscription under
 * test has read its first message and then stops reading: HTTP/2 flow control stalls the server's
 * sends, and containerd queues the rest for each subscription (its per-subscriber queue is
 * unbounded). Then the subscriptions are drained one after the other, alternating between the
 * libraries, and only each drain is timed: it measures how fast a client receives, decodes and
 * hands over a stream of small messages the server has ready — not how fast containerd accepts
 * publishes. Each library's first drained subscription is a warm-up.
 *
 * Usage: transport.ts --socket PATH [--clients connect,grpc-js] [--unary 1000] [--stream 50000] [--runs 3]
 * Prints one JSON line on stdout: { runtime, publishedPerSecond, clients: { name: { unary, stream } | { error } } }.
 * A library that fails (e.g. does not load on this runtime) is reported with its error; the
 * others are still measured.
 */
import process from "node:process"
import { setTimeout as sleep } from "node:timers/promises"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import * as Main from "../src/Main.ts"
import type { BareClients, GrpcJsClients } from "./lib/clients.ts"
import { bareConnect, grpcJs, inNamespace } from "./lib/clients.ts"

const { values: flags } = parseArgs({
  options: {
    socket: { type: "string" },
    clients: { type: "string", default: "connect,grpc-js" },
    unary: { type: "string", default: "1000" },
    stream: { type: "string", default: "50000" },
    runs: { type: "string", default: "3" }
  }
})
if (flags.socket === undefined) throw new Error("missing --socket")
const socket = flags.socket
const clientNames = flags.clients.split(",")
const unaryCalls = Number(flags.unary)
const streamMessages = Number(flags.stream)
const runs = Number(flags.runs)

const runtime = "Deno" in globalThis
  ? `deno ${(globalThis as any).Deno.version.deno}`
  : "Bun" in globalThis
  ? `bun ${(globalThis as any).Bun.version}`
  : `node ${process.version}`

/** What one library offers for this benchmark. */
interface UnderTest {
  readonly version: () => Promise<unknown>
  /** A server stream of envelopes and a way to end it. */
  readonly subscribe: (filters: ReadonlyArray<string>) => { iterator: AsyncIterator<any>; cancel: () => void }
  readonly close: () => void
}

const connectUnderTest = (clients: BareClients): UnderTest => ({
  version: () => clients.version.version({}),
  subscribe: (filters) => {
    const controller = new AbortController()
    const stream = clients.events.subscribe({ filters: [...filters] }, { signal: controller.signal })
    return { iterator: stream[Symbol.asyncIterator](), cancel: () => controller.abort() }
  },
  close: clients.close
})

const grpcJsUnderTest = (clients: GrpcJsClients): UnderTest => ({
  version: clients.version,
  subscribe: (filters) => {
    const call = clients.subscribe(filters)
    return { iterator: call[Symbol.asyncIterator](), cancel: () => call.cancel() }
  },
  close: clients.close
})

const open = async (name: string): Promise<UnderTest> => {
  if (name === "connect") return connectUnderTest(bareConnect(socket))
  if (name === "grpc-js") return grpcJsUnderTest(await grpcJs(socket))
  throw new Error(`unknown client ${name}`)
}

interface Contender {
  readonly name: string
  readonly test: UnderTest | undefined
  error: string | undefined
  readonly perCallMs: Array<number>
  readonly messagesPerSecond: Array<number>
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}`.split("\n")[0]!.slice(0, 300) : String(error)

/** Runs `body` for a contender still in the race; a failure takes it out, with its error. */
const attempt = async (contender: Contender, body: (test: UnderTest) => Promise<void>) => {
  if (contender.test === undefined || contender.error !== undefined) return
  try {
    await body(contender.test)
  } catch (error) {
    contender.error = describeError(error)
  }
}

const measureUnary = async (contenders: ReadonlyArray<Contender>) => {
  // Warm-up: the first few hundred calls run while the JIT is still compiling the call path.
  for (const contender of contenders) {
    await attempt(contender, async (test) => {
      for (let i = 0; i < Math.min(300, unaryCalls); i++) await test.version()
    })
  }
  for (let run = 0; run < runs; run++) {
    // Who goes first alternates between rounds.
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(run + k) % contenders.length]!
      await attempt(contender, async (test) => {
        const start = performance.now()
        for (let i = 0; i < unaryCalls; i++) await test.version()
        contender.perCallMs.push((performance.now() - start) / unaryCalls)
      })
    }
  }
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** The payload's first byte tells priming messages ("p") from the measured ones ("d"). */
const payloadKind = (envelope: any): string => {
  const value: Uint8Array | undefined = envelope?.event?.value
  return value === undefined || value.length === 0 ? "?" : textDecoder.decode(value.subarray(0, 1))
}

/** Returns the rate at which containerd accepted the publishes (for the record). */
const measureStream = async (contenders: ReadonlyArray<Contender>, publisher: BareClients): Promise<number> => {
  const topic = `/bench/${Math.random().toString(36).slice(2, 10)}`
  const publish = (kind: string, index: number) =>
    publisher.events.publish({
      topic,
      event: { typeUrl: "effect-whalewatcher.bench.Message", value: textEncoder.encode(`${kind}${index}`) }
    }, inNamespace("bench"))
  // runs + 1 subscriptions per library, all open at once: the backlog is published once (the slow
  // part) and each subscription gets its own copy, held back by flow control until drained.
  const subscriptions = new Map<Contender, Array<{ iterator: AsyncIterator<any>; cancel: () => void; first: Promise<unknown> }>>()
  try {
    for (const contender of contenders) {
      await attempt(contender, async (test) => {
        subscriptions.set(
          contender,
          Array.from({ length: runs + 1 }, () => {
            const subscription = test.subscribe([`topic==${JSON.stringify(topic)}`])
            const first = subscription.iterator.next()
            first.catch(() => undefined)
            return { ...subscription, first }
          })
        )
      })
    }
    // containerd does not acknowledge a subscription: publish primers until each has one.
    const firsts = [...subscriptions.values()].flat().map((s) => s.first)
    let primed = 0
    for (const first of firsts) void first.then(() => primed++, () => primed++)
    for (let i = 0; primed < firsts.length; i++) {
      if (i > 500) throw new Error("a subscription never delivered a primer")
      await publish("p", i)
      await Promise.race([Promise.allSettled(firsts), sleep(20)])
    }
    for (const [contender, list] of subscriptions) {
      await attempt(contender, async () => {
        for (const { first } of list) {
          if (((await first) as IteratorResult<unknown>).done === true) throw new Error("a subscription ended early")
        }
      })
    }

    // Nobody reads now; the backlog builds up in containerd.
    const publishStart = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < streamMessages) await publish("d", next++)
    }))
    const publishedPerSecond = streamMessages / ((performance.now() - publishStart) / 1000)
    await sleep(300)

    for (let run = 0; run <= runs; run++) {
      for (let k = 0; k < contenders.length; k++) {
        const contender = contenders[(run + k) % contenders.length]!
        const subscription = subscriptions.get(contender)?.[run]
        if (subscription === undefined) continue
        await attempt(contender, async () => {
          const start = performance.now()
          let received = 0
          while (received < streamMessages) {
            const result = await subscription.iterator.next()
            if (result.done === true) throw new Error(`a stream ended after ${received} messages`)
            if (payloadKind(result.value) === "d") received++
          }
          const rate = streamMessages / ((performance.now() - start) / 1000)
          // The first drain of each library warms it up.
          if (run > 0) contender.messagesPerSecond.push(rate)
        })
        subscription.cancel()
      }
    }
    return publishedPerSecond
  } finally {
    for (const list of subscriptions.values()) for (const { cancel } of list) cancel()
  }
}

const main = async () => {
  const publisher = bareConnect(socket)
  const contenders: Array<Contender> = []
  for (const name of clientNames) {
    try {
      contenders.push({ name, test: await open(name), error: undefined, perCallMs: [], messagesPerSecond: [] })
    } catch (error) {
      contenders.push({ name, test: undefined, error: describeError(error), perCallMs: [], messagesPerSecond: [] })
    }
  }
  try {
    if (unaryCalls > 0) await measureUnary(contenders)
    const publishedPerSecond = streamMessages > 0 ? await measureStream(contenders, publisher) : undefined
    return {
      runtime,
      unaryCalls,
      streamMessages,
      runs,
      publishedPerSecond,
      clients: Object.fromEntries(contenders.map((c) => [
        c.name,
        c.error !== undefined
          ? { error: c.error }
          : { unary: { perCallMs: c.perCallMs }, stream: { messagesPerSecond: c.messagesPerSecond } }
      ]))
    }
  } finally {
    for (const contender of contenders) contender.test?.close()
    publisher.close()
  }
}

Main.runMain(
  Effect.tryPromise({ try: main, catch: describeError }).pipe(
    Effect.match({
      onSuccess: (result) => [result, 0] as const,
      onFailure: (error) => [{ runtime, error }, 1] as const
    }),
    Effect.flatMap(([document, exitCode]) =>
      Effect.sync(() => {
        console.log(JSON.stringify(document))
        // grpc-js may keep timers alive after close on some runtimes: the result is out, so leave.
        process.exit(exitCode)
      })
    )
  )
)
