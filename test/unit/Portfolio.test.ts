import { assert, describe, it } from "@effect/vitest"
import { DateTime } from "effect"
import * as fc from "fast-check"
import type { Container, ContainerEvent } from "../../src/index.ts"
import { Portfolio } from "../../src/index.ts"

const at = DateTime.makeUnsafe(0)

const container = (id: string, changes: Partial<Container.Container> = {}): Container.Container => ({
  id,
  name: id,
  labels: {},
  pid: 100,
  project: "",
  paused: false,
  namespace: "default",
  ...changes
})

const tags = (changes: ReadonlyArray<Portfolio.Change>) => changes.map((c) => `${c._tag} ${c.container.id}`)

describe("Portfolio", () => {
  describe("look-ups", () => {
    it("always has the unnamed project, even when empty", () => {
      assert.deepStrictEqual(Portfolio.projectNames(Portfolio.empty), [""])
      assert.deepStrictEqual(Portfolio.totals(Portfolio.empty), { containers: 0, paused: 0, projects: 1 })
      const emptied = Portfolio.remove(Portfolio.set(Portfolio.empty, container("a")), "a")
      assert.deepStrictEqual(Portfolio.projectNames(emptied), [""])
    })

    it("finds containers by ID, by name, and groups them by project", () => {
      const portfolio = Portfolio.fromContainers([
        container("c1", { name: "web", project: "shop" }),
        container("c2", { name: "db", project: "shop", paused: true }),
        container("c3", { name: "cron" })
      ])
      assert.strictEqual(Portfolio.get(portfolio, "c2")?.name, "db")
      assert.strictEqual(Portfolio.getByName(portfolio, "web")?.id, "c1")
      assert.strictEqual(Portfolio.find(portfolio, "cron")?.id, "c3")
      assert.strictEqual(Portfolio.find(portfolio, "c1")?.name, "web")
      assert.isUndefined(Portfolio.find(portfolio, "nope"))
      assert.deepStrictEqual(Portfolio.projectNames(portfolio), ["", "shop"])
      assert.deepStrictEqual(Portfolio.projectContainers(portfolio, "shop").map((c) => c.id), ["c1", "c2"])
      assert.deepStrictEqual(Portfolio.projectContainers(portfolio, "").map((c) => c.id), ["c3"])
      assert.deepStrictEqual(Portfolio.totals(portfolio), { containers: 3, paused: 1, projects: 2 })
    })

    it("keeps several containers of the same name (different namespaces) apart", () => {
      const portfolio = Portfolio.fromContainers([
        container("b/web", { name: "web", namespace: "b" }),
        container("web", { name: "web" })
      ])
      assert.deepStrictEqual(Portfolio.getAllByName(portfolio, "web").map((c) => c.id), ["b/web", "web"])
      assert.strictEqual(Portfolio.getByName(Portfolio.remove(portfolio, "b/web"), "web")?.id, "web")
    })

    it("moves a container between projects and drops emptied projects", () => {
      const before = Portfolio.fromContainers([container("a", { project: "p" })])
      const after = Portfolio.set(before, container("a", { project: "q", name: "renamed" }))
      assert.deepStrictEqual(Portfolio.projectNames(after), ["", "q"])
      assert.isUndefined(Portfolio.getByName(after, "a"))
      assert.strictEqual(Portfolio.getByName(after, "renamed")?.id, "a")
      // the old value is untouched (persistent structure)
      assert.deepStrictEqual(Portfolio.projectNames(before), ["", "p"])
    })

    it("compares portfolios by content", () => {
      const a = Portfolio.fromContainers([container("x"), container("y")])
      const b = Portfolio.fromContainers([container("y"), container("x")])
      assert.isTrue(Portfolio.equals(a, b))
      assert.isFalse(Portfolio.equals(a, Portfolio.set(b, container("y", { labels: { k: "v" } }))))
    })
  })

  describe("diff", () => {
    it("announces vanished, new, re-started, relabeled and paused containers", () => {
      const before = Portfolio.fromContainers([
        container("gone"),
        container("restarted", { pid: 1 }),
        container("relabeled"),
        container("paused"),
        container("both"),
        container("same")
      ])
      const after = Portfolio.fromContainers([
        container("new"),
        container("restarted", { pid: 2 }),
        container("relabeled", { labels: { a: "b" }, project: "p" }),
        container("paused", { paused: true }),
        container("both", { labels: { x: "y" }, paused: true }),
        container("same")
      ])
      const changes = Portfolio.diff(before, after)
      assert.deepStrictEqual(tags(changes), [
        "Updated both",
        "Paused both",
        "Exited gone",
        "Started new",
        "Paused paused",
        "Updated relabeled",
        "Exited restarted",
        "Started restarted"
      ])
      // the Updated change shows one step: new labels, old pause state
      assert.strictEqual(changes[0]!.container.paused, false)
      assert.isTrue(Portfolio.equals(changes.reduce(Portfolio.applyChange, before), after))
    })

    it("is empty between equal portfolios", () => {
      const p = Portfolio.fromContainers([container("a")])
      assert.deepStrictEqual(Portfolio.diff(p, Portfolio.fromContainers([container("a")])), [])
    })

    it("replaying the diff gives the target (property)", () => {
      const arbitraryContainer = fc.record({
        id: fc.constantFrom("a", "b", "c", "d", "e"),
        pid: fc.integer({ min: 1, max: 3 }),
        paused: fc.boolean(),
        project: fc.constantFrom("", "p", "q"),
        label: fc.constantFrom("1", "2")
      }).map((c) => container(c.id, { pid: c.pid, paused: c.paused, project: c.project, labels: { l: c.label } }))
      const arbitraryPortfolio = fc.array(arbitraryContainer, { maxLength: 6 }).map(Portfolio.fromContainers)
      fc.assert(
        fc.property(arbitraryPortfolio, arbitraryPortfolio, (before, after) => {
          const replayed = Portfolio.diff(before, after).reduce(Portfolio.applyChange, before)
          return Portfolio.equals(replayed, after) && Portfolio.equals(after, replayed)
        }),
        { numRuns: 2000 }
      )
    })
  })

  describe("event application rules", () => {
    const base = { timestamp: at, namespace: "default" }
    const exited = (id: string, pid?: number): ContainerEvent.Exited => ({ ...base, _tag: "Exited", id, pid })
    const paused = (id: string): ContainerEvent.Paused => ({ ...base, _tag: "Paused", id })
    const unpaused = (id: string): ContainerEvent.Unpaused => ({ ...base, _tag: "Unpaused", id })
    const started = (id: string, pid: number): ContainerEvent.Started => ({ ...base, _tag: "Started", id, pid })
    const portfolio = Portfolio.fromContainers([container("a", { pid: 7 })])

    it("ends an instance on its exit, and ignores an older instance's exit", () => {
      assert.deepStrictEqual(tags(Portfolio.applyEvent(portfolio, exited("a", 7)).changes), ["Exited a"])
      assert.strictEqual(Portfolio.size(Portfolio.applyEvent(portfolio, exited("a", 7)).portfolio), 0)
      const stale = Portfolio.applyEvent(portfolio, exited("a", 6))
      assert.deepStrictEqual(stale.changes, [])
      assert.strictEqual(stale.portfolio, portfolio)
      // an exit without a PID ends the latest instance
      assert.deepStrictEqual(tags(Portfolio.applyEvent(portfolio, exited("a")).changes), ["Exited a"])
      assert.deepStrictEqual(Portfolio.applyEvent(portfolio, exited("unknown", 7)).changes, [])
    })

    it("carries the exit status", () => {
      const event: ContainerEvent.Exited = { ...exited("a", 7), exitStatus: 3 }
      const [change] = Portfolio.applyEvent(portfolio, event).changes
      assert.strictEqual(change?._tag === "Exited" ? change.exitStatus : undefined, 3)
    })

    it("announces pauses and resumes only when the state changes", () => {
      const once = Portfolio.applyEvent(portfolio, paused("a"))
      assert.deepStrictEqual(tags(once.changes), ["Paused a"])
      assert.deepStrictEqual(Portfolio.applyEvent(once.portfolio, paused("a")).changes, [])
      assert.deepStrictEqual(Portfolio.applyEvent(portfolio, unpaused("a")).changes, [])
      assert.deepStrictEqual(tags(Portfolio.applyEvent(once.portfolio, unpaused("a")).changes), ["Unpaused a"])
      assert.strictEqual(Portfolio.totals(once.portfolio).paused, 1)
    })

    it("updates name, project and labels in place, announcing only real changes", () => {
      const update = (labels: Record<string, string>, project: string): ContainerEvent.Updated => ({
        ...base,
        _tag: "Updated",
        id: "a",
        labels,
        name: "a",
        project
      })
      assert.deepStrictEqual(Portfolio.applyEvent(portfolio, update({}, "")).changes, [])
      const applied = Portfolio.applyEvent(portfolio, update({ "com.docker.compose.project": "p" }, "p"))
      assert.deepStrictEqual(tags(applied.changes), ["Updated a"])
      assert.strictEqual(Portfolio.get(applied.portfolio, "a")?.pid, 7)
      assert.deepStrictEqual(Portfolio.projectNames(applied.portfolio), ["", "p"])
    })

    it("adds started containers; a new PID is a new instance", () => {
      assert.isTrue(Portfolio.isKnownInstance(portfolio, "a", 7))
      assert.isFalse(Portfolio.isKnownInstance(portfolio, "a", 8))
      assert.deepStrictEqual(Portfolio.applyStarted(portfolio, container("a", { pid: 7 })).changes, [])
      assert.deepStrictEqual(tags(Portfolio.applyStarted(portfolio, container("b")).changes), ["Started b"])
      const restarted = Portfolio.applyStarted(portfolio, container("a", { pid: 8 }))
      assert.deepStrictEqual(tags(restarted.changes), ["Exited a", "Started a"])
      assert.strictEqual(restarted.changes[0]!.container.pid, 7)
      assert.strictEqual(Portfolio.get(restarted.portfolio, "a")?.pid, 8)
    })

    it("applies a batch with its look-ups and process checks, and stops at a look-up it lacks", () => {
      const b = started("b", 9)
      const confirmedAlive = new Map([["a", { _tag: "Alive" as const, pid: 7, paused: true }]])
      // an exit of an instance the engine still reports alive under its PID is not an exit
      const checked = Portfolio.applyEvents(portfolio, [exited("a", 7), b], {
        started: new Map([[b, container("b", { pid: 9 })]]),
        checks: confirmedAlive
      })
      assert.deepStrictEqual(tags(checked.changes), ["Paused a", "Started b"])
      assert.isUndefined(checked.stoppedAt)
      // without a check, events apply as they are; a start whose look-up says nothing adds nothing
      const plain = Portfolio.applyEvents(portfolio, [paused("a"), b], { started: new Map([[b, undefined]]) })
      assert.deepStrictEqual(tags(plain.changes), ["Paused a"])
      // a restart under the same PID: its start needs a look-up only once the exit has applied
      const again = started("a", 7)
      const batch = [exited("a", 7), again, paused("a")]
      const stopped = Portfolio.applyEvents(portfolio, batch, { started: new Map() })
      assert.strictEqual(stopped.stoppedAt, 1)
      assert.deepStrictEqual(tags(stopped.changes), ["Exited a"])
      const resumed = Portfolio.applyEvents(stopped.portfolio, batch, {
        started: new Map([[again, container("a", { pid: 7, name: "renamed" })]])
      }, 1)
      assert.deepStrictEqual(tags(resumed.changes), ["Started a", "Paused a"])
      assert.strictEqual(Portfolio.get(resumed.portfolio, "a")?.name, "renamed")
      assert.strictEqual(resumed.changes[0]!.timestamp, at)
    })

    it("skips buffered events about older instances of a listed container", () => {
      // While listing: a (pid 6) was paused, exited, and started again as pid 7, the listed one.
      const buffered = [paused("a"), exited("a", 6), started("a", 7), paused("a"), paused("b")]
      assert.deepStrictEqual(Portfolio.skipReflected(portfolio, buffered), [started("a", 7), paused("a"), paused("b")])
      // an exit without a PID ends an older instance just as well
      const pidless = [paused("a"), exited("a"), started("a", 7)]
      assert.deepStrictEqual(Portfolio.skipReflected(portfolio, pidless), [started("a", 7)])
    })

    it("keeps buffered events that may concern the listed instance", () => {
      // without the listed instance's start among the events, nothing is known to be old
      assert.deepStrictEqual(Portfolio.skipReflected(portfolio, [paused("a")]), [paused("a")])
      // a repeated start of the listed instance does not make earlier events old
      const repeated = [paused("a"), started("a", 7)]
      assert.deepStrictEqual(Portfolio.skipReflected(portfolio, repeated), repeated)
      // an exit of the listed PID (reused by the next instance) comes first: all of it applies
      const reused = [paused("a"), exited("a", 7), started("a", 7)]
      assert.deepStrictEqual(Portfolio.skipReflected(portfolio, reused), reused)
      // a late exit of an older instance with no start after it
      const late = [exited("a", 6), paused("a")]
      assert.deepStrictEqual(Portfolio.skipReflected(portfolio, late), late)
    })
  })
})
