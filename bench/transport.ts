/**
 * Transport benchmark, one client library per run, on whichever runtime runs this file (Node,
 * Deno or Bun; bench/run.ts starts it under each as a subprocess):
 *
 * - unary: sequential Version calls on one warm connection, per-call time;
 * - stream: one Events.Subscribe stream delivering a backlog of messages.
 *
 * The stream needs that many real events. They are published with Events.Publish (topic
 * `/bench/<token>`, namespace `bench`) from a second connection while the subscriber under test
 * has read its first message and then stops reading: HTTP/2 flow control stalls the server's
 * sends, and containerd queues the rest for the subscription (its per-subscriber queue is
 * unbounded). Then the subscriber drains the backlog and only that is timed (each run has its own
 * subscription, all fed by the same publishes): it measures how fast
 * the client receives, decodes and hands over a stream of small messages that the server has
 * ready — not how fast containerd can accept publishes.
 *
 * Usage: transport.ts --socket PATH --client connect|grpc-js [--unary 1000] [--stream 50000] [--runs 3]
 * Prints one JSON line on stdout: { runtime, client, unary?, stream?, error? }.
 */
import process from "node:process"
import type { BareClients, GrpcJsClients } from "./lib/clients.ts"
import { bareConnect, grpcJs, inNamespace } from "./lib/clients.ts"

const argument = (name: string, fallback?: string): string => {
  const index = process.argv.indexOf(`--${name}`)
  const value = index < 0 ? fallback : process.argv[index + 1]
  if (value === undefined) throw new Error(`missing --${name}`)
  return value
}

const socket = argument("socket")
const client = argument("client")
const unaryCalls = Number(argument("unary", "1000"))
const streamMessages = Number(argument("stream", "50000"))
const runs = Number(argument("runs", "3"))

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

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const measureUnary = async (underTest: UnderTest) => {
  // Warm-up: the first few hundred calls run while the JIT is still compiling the call path.
  for (let i = 0; i < Math.min(300, unaryCalls); i++) await underTest.version()
  const perCallMs: Array<number> = []
  for (let run = 0; run < runs; run++) {
    const start = performance.now()
    for (let i = 0; i < unaryCalls; i++) await underTest.version()
    perCallMs.push((performance.now() - start) / unaryCalls)
  }
  return { calls: unaryCalls, runs, perCallMs }
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** The payload's first byte tells priming messages ("p") from the measured ones ("d"). */
const payloadKind = (envelope: any): string => {
  const value: Uint8Array | undefined = envelope?.event?.value
  return value === undefined || value.length === 0 ? "?" : textDecoder.decode(value.subarray(0, 1))
}

const measureStream = async (underTest: UnderTest, publisher: BareClients) => {
  const topic = `/bench/${Math.random().toString(36).slice(2, 10)}`
  const publish = (kind: string, index: number) =>
    publisher.events.publish({
      topic,
      event: { typeUrl: "effect-whalewatcher.bench.Message", value: textEncoder.encode(`${kind}${index}`) }
    }, inNamespace("bench"))
  // One subscription per run, all open at once: the backlog is published once (publishing is the
  // slow part) and each subscription gets its own copy, held back by flow control until drained.
  // The first subscription drained is a warm-up (JIT) and not reported.
  const subscriptions = Array.from({ length: runs + 1 }, () => underTest.subscribe([`topic==${JSON.stringify(topic)}`]))
  try {
    // containerd does not acknowledge a subscription: publish primers until each has one.
    const firsts = subscriptions.map(({ iterator }) => iterator.next())
    let primed = 0
    for (const first of firsts) void first.then(() => primed++, () => primed++)
    for (let i = 0; primed < subscriptions.length; i++) {
      if (i > 500) throw new Error("a subscription never delivered a primer")
      await publish("p", i)
      await Promise.race([Promise.all(firsts), sleep(20)])
    }
    for (const first of firsts) {
      if ((await first).done === true) throw new Error("a subscription ended before its first message")
    }

    // Nobody reads now; the backlog builds up in containerd.
    const publishStart = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < streamMessages) await publish("d", next++)
    }))
    const publishedPerSecond = streamMessages / ((performance.now() - publishStart) / 1000)
    await sleep(300)

    const seconds: Array<number> = []
    for (const { iterator } of subscriptions) {
      const start = performance.now()
      let received = 0
      while (received < streamMessages) {
        const result = await iterator.next()
        if (result.done === true) throw new Error(`a stream ended after ${received} messages`)
        if (payloadKind(result.value) === "d") received++
      }
      seconds.push((performance.now() - start) / 1000)
    }
    return {
      messages: streamMessages,
      runs,
      messagesPerSecond: seconds.slice(1).map((s) => streamMessages / s),
      publishedPerSecond
    }
  } finally {
    for (const { cancel } of subscriptions) cancel()
  }
}

const main = async () => {
  const publisher = bareConnect(socket)
  let underTest: UnderTest | undefined
  try {
    underTest = client === "connect" ? connectUnderTest(bareConnect(socket)) : grpcJsUnderTest(await grpcJs(socket))
    const unary = unaryCalls > 0 ? await measureUnary(underTest) : undefined
    const stream = streamMessages > 0 ? await measureStream(underTest, publisher) : undefined
    return { runtime, client, unary, stream }
  } finally {
    underTest?.close()
    publisher.close()
  }
}

main().then(
  (result) => {
    console.log(JSON.stringify(result))
    // grpc-js may keep timers alive after close on some runtimes: the result is out, so leave.
    process.exit(0)
  },
  (error: unknown) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    console.log(JSON.stringify({ runtime, client, error: message }))
    process.exit(1)
  }
)
