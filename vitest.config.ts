import { defineConfig } from "vitest/config"

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
