import { defineConfig } from "vitest/config"

// vitest 5's reporter calls Map.groupBy (Node >= 21) when it prints failures; on Node 20 it would
// crash and hide every failure message. A faithful fallback keeps failures readable there.
if (typeof Map.groupBy !== "function") {
  Object.defineProperty(Map, "groupBy", {
    configurable: true,
    writable: true,
    value: <K, T>(items: Iterable<T>, keyOf: (item: T, index: number) => K): Map<K, Array<T>> => {
      const groups = new Map<K, Array<T>>()
      let index = 0
      for (const item of items) {
        const key = keyOf(item, index++)
        const group = groups.get(key)
        if (group === undefined) groups.set(key, [item])
        else group.push(item)
      }
      return groups
    }
  })
}

// Two projects: unit tests (mock layers, fast, parallel) and integration tests (a real,
// private containerd each file starts and tears down; run one file at a time so the 2-core
// machines are not oversubscribed and timings stay sane).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/proto/**/*.test.ts"],
          testTimeout: 60_000
        }
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false
        }
      }
    ]
  }
})
