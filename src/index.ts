/**
 * effect-whalewatcher: the engine-neutral core.
 *
 * @since 0.1.0
 */
/** The Container model: what is known about one alive container. */
export * as Container from "./Container.ts"
/** Lifecycle events as an engine reports them. */
export * as ContainerEvent from "./ContainerEvent.ts"
/** The engine-neutral interface of a container engine client. */
export * as EngineClient from "./EngineClient.ts"
/** The typed errors of engine clients. */
export * as EngineError from "./EngineError.ts"
/** One picture of every container on a host, over several engines at once. */
export * as Host from "./Host.ts"
/** Running a program as a process's main program, on Node, Deno and Bun. */
export * as Main from "./Main.ts"
/** The immutable portfolio of alive containers, and its change rules. */
export * as Portfolio from "./Portfolio.ts"
/** The Watcher: an always-correct live portfolio from list-then-watch. */
export * as Watcher from "./Watcher.ts"
