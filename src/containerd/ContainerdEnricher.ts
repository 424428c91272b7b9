/**
 * An optional hook that attaches application data (the original's "rucksack") to containers, given
 * the containerd details the engine fetched anyway. It runs for every container the engine builds:
 * on `list`, on `inspect`, and for containers that start while watching.
 *
 * @since 0.1.0
 */
import { Context, type Effect, Layer } from "effect"
import type { Container as ContainerdContainer } from "../../gen/containerd/services/containers/v1/containers_pb.ts"
import type { Process } from "../../gen/containerd/types/task_pb.ts"
import type { Container } from "../Container.ts"

/**
 * What the enricher is given beside the container.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerdDetails {
  /** The containerd namespace of the container. */
  readonly namespace: string
  /** containerd's container record (labels, image, runtime, spec, ...). */
  readonly container: ContainerdContainer
  /** The container's task (init process); for containers seen starting, built from the start event. */
  readonly task: Process
}

/**
 * The enricher: returns the value to store as `Container.enrichment`. A failure or defect is
 * not fatal: the container is kept without enrichment (and the failure logged).
 *
 * @category models
 * @since 0.1.0
 */
export interface ContainerdEnricherShape {
  /** Computes the enrichment of one container. */
  readonly enrich: (container: Container, details: ContainerdDetails) => Effect.Effect<unknown>
}

/**
 * The enricher service; the engine uses it when it is provided.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ContainerdEngine, ContainerdEnricher } from "effect-whalewatcher/containerd"
 *
 * const withImages = ContainerdEngine.layerConfig().pipe(
 *   Layer.provide(ContainerdEnricher.layer((_container, details) => Effect.succeed({ image: details.container.image })))
 * )
 * ```
 * @category services
 * @since 0.1.0
 */
export const ContainerdEnricher: Context.Service<ContainerdEnricher, ContainerdEnricherShape> = Context.Service<
  ContainerdEnricher,
  ContainerdEnricherShape
>("effect-whalewatcher/containerd/ContainerdEnricher")

/**
 * The identifier type of the {@link ContainerdEnricher} service.
 *
 * @category services
 * @since 0.1.0
 */
export interface ContainerdEnricher {
  /** Brands the identifier type; no value has it. */
  readonly _: unique symbol
}

/**
 * A layer from an enrich function.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  enrich: (container: Container, details: ContainerdDetails) => Effect.Effect<unknown>
): Layer.Layer<ContainerdEnricher> => Layer.succeed(ContainerdEnricher, { enrich })
