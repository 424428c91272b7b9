/**
 * effect-whalewatcher: the engine-neutral core.
 *
 * @since 0.1.0
 */
export * as EngineError from "./EngineError.ts"
