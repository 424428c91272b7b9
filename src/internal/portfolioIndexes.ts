/**
 * The index maintenance of a portfolio: its projects (display IDs by project name) and names
 * (display IDs by container name), kept in step with its containers by `Portfolio`.
 */
import { HashMap, HashSet, Option } from "effect"
import * as Container from "../Container.ts"
import type { Project } from "../Portfolio.ts"

/** The projects with `container` a member of its project. */
export const withMember = (
  byProject: HashMap.HashMap<string, Project>,
  container: Container.Container
): HashMap.HashMap<string, Project> => {
  const existing = Option.getOrUndefined(HashMap.get(byProject, container.project))
  const members = existing === undefined ? HashSet.empty<string>() : existing.ids
  return HashMap.set(byProject, container.project, { name: container.project, ids: HashSet.add(members, container.id) })
}

/** The projects without `container` in its project (an empty named project disappears). */
export const withoutMember = (
  byProject: HashMap.HashMap<string, Project>,
  container: Container.Container
): HashMap.HashMap<string, Project> => {
  const existing = Option.getOrUndefined(HashMap.get(byProject, container.project))
  if (existing === undefined) return byProject
  const members = HashSet.remove(existing.ids, container.id)
  // Empty projects disappear, except the unnamed one which always exists.
  return HashSet.size(members) === 0 && container.project !== Container.NoProject
    ? HashMap.remove(byProject, container.project)
    : HashMap.set(byProject, container.project, { name: container.project, ids: members })
}

/** The names with `container`'s display ID under its name, kept sorted. */
export const withName = (
  byName: HashMap.HashMap<string, ReadonlyArray<string>>,
  container: Container.Container
): HashMap.HashMap<string, ReadonlyArray<string>> => {
  const ids = Option.getOrUndefined(HashMap.get(byName, container.name))
  if (ids === undefined) return HashMap.set(byName, container.name, [container.id])
  if (ids.includes(container.id)) return byName
  return HashMap.set(byName, container.name, [...ids, container.id].sort())
}

/** The names without `container`'s display ID under its name. */
export const withoutName = (
  byName: HashMap.HashMap<string, ReadonlyArray<string>>,
  container: Container.Container
): HashMap.HashMap<string, ReadonlyArray<string>> => {
  const ids = Option.getOrUndefined(HashMap.get(byName, container.name))
  if (ids === undefined) return byName
  const rest = ids.filter((id) => id !== container.id)
  return rest.length === 0 ? HashMap.remove(byName, container.name) : HashMap.set(byName, container.name, rest)
}
