/**
 * effect-whalewatcher: the engine-neutral core.
 *
 * @since 0.1.0
 */
export * as Container from "./Container.ts"
export * as ContainerEvent from "./ContainerEvent.ts"
export * as EngineClient from "./EngineClient.ts"
export * as EngineError from "./EngineError.ts"
export * as Portfolio from "./Portfolio.ts"
export * as Watcher from "./Watcher.ts"
