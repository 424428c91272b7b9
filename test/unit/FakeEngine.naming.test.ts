/**
 * FakeEngine names containers by containerd's own rule: the same labels give the same names and
 * projects as the containerd engine with its default label mapping (over a fake containerd).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { ContainerdEngine, LabelMapping, NamespaceFilter } from "../../src/containerd/index.ts"
import { EngineClient } from "../../src/index.ts"
import { FakeContainerd, FakeEngine } from "../../src/testing/index.ts"

/** Containers as `namespace`, containerd id, labels. */
const containers: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
  ["default", "web", { "nerdctl/name": "frontend", "com.docker.compose.project": "shop" }],
  ["default", "plain", {}],
  ["default", "blank", { "nerdctl/name": "" }],
  ["shop", "db", { "nerdctl/name": "database", "com.docker.compose.project": "shop" }],
  ["shop", "cache", {}]
]

const namesAndProjects = (listed: ReadonlyArray<{ id: string; name: string; project: string }>) =>
  listed.map(({ id, name, project }) => ({ id, name, project })).sort((a, b) => (a.id < b.id ? -1 : 1))

describe("FakeEngine's default label mapping", () => {
  it.effect("names and projects as the containerd engine gives them", () =>
    Effect.gen(function*() {
      const containerd = FakeContainerd.make()
      const fake = FakeEngine.make()
      containers.forEach(([namespace, id, labels], index) => {
        containerd.addContainer({ namespace, id, labels })
        containerd.startTask({ namespace, id, pid: 100 + index })
        fake.add({ id: namespace === "default" ? id : `${namespace}/${id}`, namespace, labels })
      })
      const fromContainerd = yield* Effect.flatMap(EngineClient.EngineClient, (engine) => engine.list).pipe(
        Effect.provide(
          ContainerdEngine.layer().pipe(
            Layer.provide(FakeContainerd.layer(containerd)),
            Layer.provide(NamespaceFilter.layer),
            Layer.provide(LabelMapping.layer)
          )
        )
      )
      assert.deepStrictEqual(namesAndProjects(fake.containers()), namesAndProjects(fromContainerd))
      assert.deepStrictEqual(namesAndProjects(fake.containers()).map(({ name }) => name), [
        "blank",
        "plain",
        "shop/cache",
        "shop/database",
        "frontend"
      ])
    }))
})
