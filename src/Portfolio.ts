/**
 * The portfolio: an immutable picture of the containers alive on a host, by display ID, by name
 * and grouped by compose project (the unnamed project `""` is always present).
 *
 * A portfolio is a plain value built on persistent hash maps: an update copies only the path to
 * the changed entry (O(log n)), so keeping every version is cheap and readers never see a
 * half-applied change. Everything here is pure and needs no Effect runtime:
 *
 * - look-ups ({@link get}, {@link getByName}, {@link find}, {@link project}) and totals;
 * - {@link diff}: the lifecycle changes that lead from one portfolio to another;
 * - the event-application rules the Watcher follows ({@link applyStarted}, {@link applyEvent},
 *   {@link skipReflected}, and {@link applyEvents} for a whole batch), and {@link applyChange}
 *   to replay announced changes.
 *
 * @example
 * ```ts
 * import { Portfolio } from "effect-whalewatcher"
 *
 * const portfolio = Portfolio.fromContainers([
 *   { id: "web", name: "web", labels: {}, pid: 42, project: "shop", paused: false, namespace: "default" }
 * ])
 * Portfolio.projectNames(portfolio) // ["", "shop"]
 * Portfolio.getByName(portfolio, "web")?.pid // 42
 * ```
 * @since 0.1.0
 */
import { Array as Arr, type DateTime, HashMap, HashSet, Option } from "effect"
import * as Container from "./Container.ts"
import type * as ContainerEvent from "./ContainerEvent.ts"
import type { ProcessCheck } from "./EngineClient.ts"
import { byId } from "./internal/ordering.ts"
import { withMember, withName, withoutMember, withoutName } from "./internal/portfolioIndexes.ts"

/**
 * The containers of one compose project.
 *
 * @category models
 * @since 0.1.0
 */
export interface Project {
  /** The project's name; `""` for containers that belong to no project. */
  readonly name: string
  /**
   * The display IDs of the project's containers (the containers themselves are in
   * {@link Portfolio.byId}: a pause or relabel then touches one map, not two).
   */
  readonly ids: HashSet.HashSet<string>
}

/**
 * An immutable portfolio of alive containers. Build one with {@link fromContainers} or
 * {@link set}; the indexes are kept consistent by this module's functions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Portfolio {
  /** All containers by display ID. */
  readonly byId: HashMap.HashMap<string, Container.Container>
  /** Projects by name; always has the unnamed project `""`. */
  readonly byProject: HashMap.HashMap<string, Project>
  /** Display IDs by container name, sorted (names are unique per namespace only). */
  readonly byName: HashMap.HashMap<string, ReadonlyArray<string>>
  /** How many containers are paused. */
  readonly pausedCount: number
}

const noProject: Project = { name: Container.NoProject, ids: HashSet.empty() }

/**
 * The empty portfolio (with the unnamed project only).
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty: Portfolio = {
  byId: HashMap.empty(),
  byProject: HashMap.make([Container.NoProject, noProject]),
  byName: HashMap.empty(),
  pausedCount: 0
}

/**
 * A portfolio of the given containers (a later container replaces an earlier one with the same ID).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromContainers = (containers: Iterable<Container.Container>): Portfolio => {
  let portfolio = empty
  for (const container of containers) portfolio = set(portfolio, container)
  return portfolio
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/**
 * The container with this display ID.
 *
 * @category getters
 * @since 0.1.0
 */
export const get = (portfolio: Portfolio, id: string): Container.Container | undefined =>
  Option.getOrUndefined(HashMap.get(portfolio.byId, id))

/**
 * True when a container with this display ID is alive.
 *
 * @category predicates
 * @since 0.1.0
 */
export const has = (portfolio: Portfolio, id: string): boolean => HashMap.has(portfolio.byId, id)

/**
 * The container with this name; when several share it (in different namespaces), the one with
 * the smallest display ID.
 *
 * @category getters
 * @since 0.1.0
 */
export const getByName = (portfolio: Portfolio, name: string): Container.Container | undefined => {
  const ids = Option.getOrUndefined(HashMap.get(portfolio.byName, name))
  return ids === undefined ? undefined : get(portfolio, ids[0]!)
}

/**
 * All containers with this name, by display ID.
 *
 * @category getters
 * @since 0.1.0
 */
export const getAllByName = (portfolio: Portfolio, name: string): ReadonlyArray<Container.Container> => {
  const ids = Option.getOrUndefined(HashMap.get(portfolio.byName, name)) ?? []
  return ids.map((id) => get(portfolio, id)!)
}

/**
 * The container with this display ID, else the one with this name (as engines' inspect does).
 *
 * @category getters
 * @since 0.1.0
 */
export const find = (portfolio: Portfolio, nameOrId: string): Container.Container | undefined =>
  get(portfolio, nameOrId) ?? getByName(portfolio, nameOrId)

/**
 * The project with this name (`""`: the containers of no project), if it has containers or is `""`.
 *
 * @category getters
 * @since 0.1.0
 */
export const project = (portfolio: Portfolio, name: string): Project | undefined =>
  Option.getOrUndefined(HashMap.get(portfolio.byProject, name))

/**
 * The names of all projects, sorted; always includes `""`.
 *
 * @category getters
 * @since 0.1.0
 */
export const projectNames = (portfolio: Portfolio): ReadonlyArray<string> =>
  Array.from(HashMap.keys(portfolio.byProject)).sort()

/**
 * The containers of a project, sorted by display ID (empty for an unknown project).
 *
 * @category getters
 * @since 0.1.0
 */
export const projectContainers = (portfolio: Portfolio, name: string): ReadonlyArray<Container.Container> => {
  const found = project(portfolio, name)
  return found === undefined ? [] : sortById(Array.from(found.ids, (id) => get(portfolio, id)!))
}

/**
 * All containers, sorted by display ID.
 *
 * @category getters
 * @since 0.1.0
 */
export const containers = (portfolio: Portfolio): ReadonlyArray<Container.Container> =>
  sortById(HashMap.values(portfolio.byId))

/**
 * How many containers are alive.
 *
 * @category getters
 * @since 0.1.0
 */
export const size = (portfolio: Portfolio): number => HashMap.size(portfolio.byId)

/**
 * Totals of a portfolio.
 *
 * @category models
 * @since 0.1.0
 */
export interface Totals {
  /** Alive containers. */
  readonly containers: number
  /** Of these, paused. */
  readonly paused: number
  /** Projects, counting the unnamed project `""`. */
  readonly projects: number
}

/**
 * The totals of a portfolio, in constant time.
 *
 * @category getters
 * @since 0.1.0
 */
export const totals = (portfolio: Portfolio): Totals => ({
  containers: HashMap.size(portfolio.byId),
  paused: portfolio.pausedCount,
  projects: HashMap.size(portfolio.byProject)
})

/**
 * True when both portfolios hold equal containers (see {@link Container.equals}).
 *
 * @category predicates
 * @since 0.1.0
 */
export const equals = (a: Portfolio, b: Portfolio): boolean => {
  if (a === b) return true
  if (HashMap.size(a.byId) !== HashMap.size(b.byId) || a.pausedCount !== b.pausedCount) return false
  for (const container of HashMap.values(a.byId)) {
    const other = get(b, container.id)
    if (other === undefined || !Container.equals(container, other)) return false
  }
  return true
}

// ---------------------------------------------------------------------------------------------
// Updating
// ---------------------------------------------------------------------------------------------

/**
 * Adds a container, or replaces the one with the same display ID.
 *
 * @category transforming
 * @since 0.1.0
 */
export const set = (portfolio: Portfolio, container: Container.Container): Portfolio =>
  replace(portfolio, get(portfolio, container.id), container)

/** {@link set}, given the container that `container` replaces (undefined: none), already looked up. */
const replace = (
  portfolio: Portfolio,
  previous: Container.Container | undefined,
  container: Container.Container
): Portfolio => {
  let byProject = portfolio.byProject
  let byName = portfolio.byName
  // The indexes hold IDs: only a new container, or a new project or name, changes them.
  if (previous === undefined || previous.project !== container.project) {
    if (previous !== undefined) byProject = withoutMember(byProject, previous)
    byProject = withMember(byProject, container)
  }
  if (previous === undefined || previous.name !== container.name) {
    if (previous !== undefined) byName = withoutName(byName, previous)
    byName = withName(byName, container)
  }
  return {
    byId: HashMap.set(portfolio.byId, container.id, container),
    byProject,
    byName,
    pausedCount: portfolio.pausedCount + (container.paused ? 1 : 0) - (previous?.paused ? 1 : 0)
  }
}

/**
 * Removes the container with this display ID (the same portfolio when there is none).
 *
 * @category transforming
 * @since 0.1.0
 */
export const remove = (portfolio: Portfolio, id: string): Portfolio => {
  const previous = get(portfolio, id)
  if (previous === undefined) return portfolio
  return {
    byId: HashMap.remove(portfolio.byId, id),
    byProject: withoutMember(portfolio.byProject, previous),
    byName: withoutName(portfolio.byName, previous),
    pausedCount: portfolio.pausedCount - (previous.paused ? 1 : 0)
  }
}

const sortById = (values: Iterable<Container.Container>): Array<Container.Container> => Arr.sort(values, byId)

// ---------------------------------------------------------------------------------------------
// Lifecycle changes
// ---------------------------------------------------------------------------------------------

/**
 * A container instance became alive (a new container, or a new initial process of a known one).
 *
 * @category models
 * @since 0.1.0
 */
export interface Started {
  /** The change's type. */
  readonly _tag: "Started"
  /** The container, alive now. */
  readonly container: Container.Container
}

/**
 * A container instance ended; `container` is its last known state.
 *
 * @category models
 * @since 0.1.0
 */
export interface Exited {
  /** The change's type. */
  readonly _tag: "Exited"
  /** The container's last known state. */
  readonly container: Container.Container
  /** The exit status, when the engine reported it (never for exits noticed by a resync). */
  readonly exitStatus?: number | undefined
}

/**
 * A container was paused; `container` is its new state.
 *
 * @category models
 * @since 0.1.0
 */
export interface Paused {
  /** The change's type. */
  readonly _tag: "Paused"
  /** The container, paused now. */
  readonly container: Container.Container
}

/**
 * A container was resumed; `container` is its new state.
 *
 * @category models
 * @since 0.1.0
 */
export interface Unpaused {
  /** The change's type. */
  readonly _tag: "Unpaused"
  /** The container, running again. */
  readonly container: Container.Container
}

/**
 * A container's name, project, labels or enrichment changed; `container` is its new state.
 *
 * @category models
 * @since 0.1.0
 */
export interface Updated {
  /** The change's type. */
  readonly _tag: "Updated"
  /** The container after the change. */
  readonly container: Container.Container
  /** The state before the change. */
  readonly previous: Container.Container
}

/**
 * A lifecycle change of one container.
 *
 * @category models
 * @since 0.1.0
 */
export type Change = Started | Exited | Paused | Unpaused | Updated

/**
 * Applies an announced change (e.g. to keep a copy of the portfolio from announced events):
 * `Exited` removes the container, every other change sets it.
 *
 * @category changes
 * @since 0.1.0
 */
export const applyChange = (portfolio: Portfolio, change: Change): Portfolio =>
  change._tag === "Exited" ? remove(portfolio, change.container.id) : set(portfolio, change.container)

/**
 * The changes that lead from `before` to `after`, by display ID: `Exited` for containers that
 * vanished, `Started` for new ones, `Exited` then `Started` for a new instance (another PID),
 * `Updated` for a changed name, project, labels or enrichment, then `Paused` or `Unpaused`.
 * Applying them to `before` with {@link applyChange} gives a portfolio equal to `after`.
 *
 * @category changes
 * @since 0.1.0
 */
export const diff = (before: Portfolio, after: Portfolio): ReadonlyArray<Change> => {
  if (before === after) return []
  const ids = new Set<string>(HashMap.keys(before.byId))
  for (const id of HashMap.keys(after.byId)) ids.add(id)
  const changes: Array<Change> = []
  for (const id of Array.from(ids).sort()) {
    const old = get(before, id)
    const current = get(after, id)
    if (current === undefined) changes.push({ _tag: "Exited", container: old! })
    else if (old === undefined) changes.push({ _tag: "Started", container: current })
    else if (old.pid !== current.pid) {
      changes.push({ _tag: "Exited", container: old }, { _tag: "Started", container: current })
    } else if (!Container.equals(old, current)) {
      // The Updated change keeps the old pause state, so that each change shows one step.
      const relabeled = old.paused === current.paused ? current : { ...current, paused: old.paused }
      if (!Container.equals(old, relabeled)) changes.push({ _tag: "Updated", container: relabeled, previous: old })
      if (old.paused !== current.paused) {
        changes.push({ _tag: current.paused ? "Paused" : "Unpaused", container: current })
      }
    }
  }
  return changes
}

// ---------------------------------------------------------------------------------------------
// Event application rules
// ---------------------------------------------------------------------------------------------

/**
 * The result of applying an engine event: the new portfolio and the changes to announce (none
 * when the event changed nothing).
 *
 * @category event rules
 * @since 0.1.0
 */
export interface Applied {
  /** The portfolio after the event. */
  readonly portfolio: Portfolio
  /** The changes to announce, in order. */
  readonly changes: ReadonlyArray<Change>
}

const unchanged = (portfolio: Portfolio): Applied => ({ portfolio, changes: [] })

/**
 * True when the portfolio already holds this instance (same display ID and initial PID): its
 * `Started` event needs no look-up and changes nothing.
 *
 * @category event rules
 * @since 0.1.0
 */
export const isKnownInstance = (portfolio: Portfolio, id: string, pid: number): boolean =>
  get(portfolio, id)?.pid === pid

/**
 * Applies a started container (a `Started` event completed by the engine's `resolveStarted`):
 * nothing for a known instance; a new instance of a known container (another PID) ends the old
 * one first (`Exited` then `Started`).
 *
 * @category event rules
 * @since 0.1.0
 */
export const applyStarted = (portfolio: Portfolio, container: Container.Container): Applied => {
  const known = get(portfolio, container.id)
  if (known === undefined) return { portfolio: set(portfolio, container), changes: [{ _tag: "Started", container }] }
  if (known.pid === container.pid) return unchanged(portfolio)
  return {
    portfolio: set(portfolio, container),
    changes: [{ _tag: "Exited", container: known }, { _tag: "Started", container }]
  }
}

/**
 * Applies an engine event other than `Started` (which needs the engine's `resolveStarted`
 * first; see {@link applyStarted}):
 *
 * - `Exited` ends the known instance, unless the event names another PID (an older instance's
 *   late exit, ignored);
 * - `Paused` / `Unpaused` change the latest instance, and are changes only if its state changes;
 * - `Updated` sets name, project and labels, a change only if one of them differs.
 *
 * Events for unknown containers change nothing.
 *
 * @category event rules
 * @since 0.1.0
 */
export const applyEvent = (
  portfolio: Portfolio,
  event: ContainerEvent.Exited | ContainerEvent.Paused | ContainerEvent.Unpaused | ContainerEvent.Updated
): Applied => {
  const known = get(portfolio, event.id)
  if (known === undefined) return unchanged(portfolio)
  switch (event._tag) {
    case "Exited": {
      if (event.pid !== undefined && event.pid !== known.pid) return unchanged(portfolio)
      return {
        portfolio: remove(portfolio, known.id),
        changes: [{ _tag: "Exited", container: known, exitStatus: event.exitStatus }]
      }
    }
    case "Paused":
    case "Unpaused": {
      const paused = event._tag === "Paused"
      if (known.paused === paused) return unchanged(portfolio)
      const container = Container.update(known, { paused })
      return { portfolio: replace(portfolio, known, container), changes: [{ _tag: event._tag, container }] }
    }
    case "Updated": {
      const container = Container.update(known, { name: event.name, project: event.project, labels: event.labels })
      if (Container.equals(known, container)) return unchanged(portfolio)
      return {
        portfolio: replace(portfolio, known, container),
        changes: [{ _tag: "Updated", container, previous: known }]
      }
    }
  }
}

/**
 * Drops the buffered events a fresh list already reflects, where applying them would be wrong.
 * Events that arrived while the list was being taken are applied after it, in order. That is
 * right for every event but one kind: a pause (or resume) of an *older* instance of a listed
 * container, as pause events carry no PID. So for each listed container whose listed instance
 * begins among the buffered events (an older instance's exit, then a start, before the first
 * event naming the listed PID), the events up to that exit are dropped: they are about older
 * instances, and the list already shows what followed.
 *
 * @category event rules
 * @since 0.1.0
 */
export const skipReflected = (
  listed: Portfolio,
  buffered: ReadonlyArray<ContainerEvent.ContainerEvent>
): ReadonlyArray<ContainerEvent.ContainerEvent> => {
  // Per listed container: the last older-instance exit followed by a start, until the first
  // event that names the listed PID (after which all events concern the listed instance or later).
  const cut = new Map<string, number>()
  const pendingExit = new Map<string, number>()
  const settled = new Set<string>()
  buffered.forEach((event, index) => {
    const known = get(listed, event.id)
    if (known === undefined || settled.has(event.id)) return
    const namesListedPid = (event._tag === "Started" || event._tag === "Exited") && event.pid === known.pid
    if (event._tag === "Started") {
      const exit = pendingExit.get(event.id)
      if (exit !== undefined) cut.set(event.id, exit)
    }
    if (namesListedPid) settled.add(event.id)
    else if (event._tag === "Exited") pendingExit.set(event.id, index)
  })
  if (cut.size === 0) return buffered
  return buffered.filter((event, index) => index > (cut.get(event.id) ?? -1))
}

/**
 * What the engine said about a batch of events, for {@link applyEvents}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Evidence {
  /**
   * The engine's look-ups of the batch's `Started` events (by event): the container the start
   * makes alive, or `undefined` when it adds nothing (the container is gone, or another instance
   * is alive).
   */
  readonly started: ReadonlyMap<ContainerEvent.Started, Container.Container | undefined>
  /**
   * The engine's process checks by display ID, made after the batch arrived; without one, an
   * exit, pause or resume applies as it is.
   */
  readonly checks?: ReadonlyMap<string, ProcessCheck> | undefined
}

/**
 * The result of {@link applyEvents}.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppliedEvents {
  /** The portfolio after the events applied. */
  readonly portfolio: Portfolio
  /** The changes to announce, in order, each with the timestamp of the event that made it. */
  readonly changes: ReadonlyArray<Change & { readonly timestamp: DateTime.Utc }>
  /**
   * When the events were not all applied: the index of the first `Started` event whose look-up
   * is needed and missing from the evidence. Add it and go on from there.
   */
  readonly stoppedAt?: number | undefined
}

/**
 * An exit, pause or resume as the engine's process check confirms it. An exit of the known
 * instance while it is still alive under its PID is not an exit (forged, or a restart under the
 * same PID already done): the instance takes the pause state the engine reports, as a pause or
 * resume of it does. Without a check (or when the engine cannot tell, or the instance changed)
 * the event applies as it is.
 */
const confirmed = (
  portfolio: Portfolio,
  event: ContainerEvent.Exited | ContainerEvent.Paused | ContainerEvent.Unpaused | ContainerEvent.Updated,
  check: ProcessCheck | undefined
): typeof event => {
  if (event._tag === "Updated" || check?._tag !== "Alive") return event
  const known = get(portfolio, event.id)
  if (known === undefined || known.pid !== check.pid) return event
  const _tag = check.paused ? "Paused" : "Unpaused"
  return event._tag === "Exited"
    ? { _tag, id: event.id, namespace: event.namespace, timestamp: event.timestamp }
    : { ...event, _tag }
}

/**
 * Applies a batch of engine events in order, as the Watcher does: a `Started` event of an
 * instance the portfolio does not know takes its look-up from `evidence.started` (see
 * {@link applyStarted}); every other event is first confirmed by its process check in
 * `evidence.checks`, then applied by {@link applyEvent}. A start whose look-up the evidence lacks
 * (it was not needed when the batch began, and an earlier event of the batch made it needed)
 * stops the application there: see {@link AppliedEvents.stoppedAt}; `from` goes on.
 *
 * @category event rules
 * @since 0.1.0
 */
export const applyEvents = (
  portfolio: Portfolio,
  events: ReadonlyArray<ContainerEvent.ContainerEvent>,
  evidence: Evidence,
  from: number = 0
): AppliedEvents => {
  let current = portfolio
  const changes: Array<Change & { readonly timestamp: DateTime.Utc }> = []
  for (let index = from; index < events.length; index++) {
    const event = events[index]!
    let applied: Applied
    if (event._tag === "Started") {
      if (isKnownInstance(current, event.id, event.pid)) continue
      if (!evidence.started.has(event)) return { portfolio: current, changes, stoppedAt: index }
      const container = evidence.started.get(event)
      if (container === undefined) continue
      applied = applyStarted(current, container)
    } else {
      applied = applyEvent(current, confirmed(current, event, evidence.checks?.get(event.id)))
    }
    current = applied.portfolio
    for (const change of applied.changes) changes.push({ ...change, timestamp: event.timestamp })
  }
  return { portfolio: current, changes }
}
