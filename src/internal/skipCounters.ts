/**
 * The counts of engine events an engine client skipped, by reason, kept in effect `Metric`
 * counters so that an app's metrics exporter sees them: one series of
 * `effect_whalewatcher_skipped_events` per engine type, API address and reason.
 */
import { type Context, Effect, Metric } from "effect"

/** The name of the counter. */
export const metricName = "effect_whalewatcher_skipped_events"

/** One engine client's skip counters. */
export interface SkipCounters<Reason extends string> {
  /** Counts one skipped event (synchronous: it is called from inside an event handler). */
  readonly skip: (reason: Reason) => void
  /** The counts since these counters were made, by reason. */
  readonly counts: Effect.Effect<Readonly<Record<Reason, number>>>
}

/**
 * Counters in the metric registry of the current context (the engine's, when its layer is
 * built): counting and reading both use it, wherever they run. The counts start at what the
 * series already held, so that they are this engine's own unless another client of the same
 * engine and address counts at the same time.
 */
export const make = <Reason extends string>(
  reasons: ReadonlyArray<Reason>,
  attributes: { readonly engine: string; readonly api: string }
): Effect.Effect<SkipCounters<Reason>> =>
  Effect.map(Effect.context<never>(), (context: Context.Context<never>) => {
    const counters = new Map(reasons.map((reason) => [
      reason,
      Metric.counter(metricName, {
        description: "Engine events skipped by effect-whalewatcher's engine clients, by reason",
        incremental: true,
        attributes: { ...attributes, reason }
      })
    ]))
    const read = (reason: Reason) => counters.get(reason)!.valueUnsafe(context).count
    const baseline = new Map(reasons.map((reason) => [reason, read(reason)]))
    return {
      skip: (reason) => counters.get(reason)!.updateUnsafe(1, context),
      counts: Effect.sync(() =>
        Object.fromEntries(reasons.map((reason) => [reason, read(reason) - baseline.get(reason)!])) as Record<
          Reason,
          number
        >
      )
    }
  })
