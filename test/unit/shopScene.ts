/**
 * The scene the unit tests share: the compose project "shop" on a fake containerd, its web front
 * end running in the default namespace and its database paused in namespace "shop".
 */
import { FakeContainerd } from "../../src/testing/index.ts"

/**
 * A fake containerd with the shop: `web` (default namespace, named "frontend", tier "front",
 * PID 101, running) and `shop/db` (named "database", tier "back", PID 102, paused).
 */
export const shopScene = (): FakeContainerd.FakeContainerd => {
  const fake = FakeContainerd.make()
  fake.addContainer({
    namespace: "default",
    id: "web",
    labels: { "nerdctl/name": "frontend", "com.docker.compose.project": "shop", tier: "front" }
  })
  fake.startTask({ namespace: "default", id: "web", pid: 101 })
  fake.addContainer({
    namespace: "shop",
    id: "db",
    labels: { "nerdctl/name": "database", "com.docker.compose.project": "shop", tier: "back" }
  })
  fake.startTask({ namespace: "shop", id: "db", pid: 102 })
  fake.pauseTask({ namespace: "shop", id: "db" })
  return fake
}
