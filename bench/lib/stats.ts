/**
 * Summaries of repeated measurements. Benchmarks report the median (robust against the odd
 * garbage collection or scheduler hiccup on a 2-core machine) with min, p90 and max, so a reader
 * sees the spread and not only a single lucky or unlucky number.
 */

export interface Summary {
  readonly n: number
  readonly median: number
  readonly min: number
  readonly p90: number
  readonly max: number
}

/** Nearest-rank percentile of an ascending array (p in [0, 1]). */
const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  if (samples.length === 0) return { n: 0, median: NaN, min: NaN, p90: NaN, max: NaN }
  const sorted = [...samples].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  return { n: sorted.length, median, min: sorted[0]!, p90: percentile(sorted, 0.9), max: sorted[sorted.length - 1]! }
}

/** A duration in milliseconds with a precision that suits its size. */
export const ms = (value: number): string =>
  !Number.isFinite(value) ? "n/a" : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

/** `median (min–p90–max) ms`, the way every timing cell of the results table reads. */
export const spread = (summary: Summary): string =>
  summary.n === 0 ? "n/a" : `${ms(summary.median)} (${ms(summary.min)}–${ms(summary.p90)}–${ms(summary.max)})`

export const ratio = (value: number, baseline: number): string =>
  Number.isFinite(value) && Number.isFinite(baseline) && baseline > 0 ? `${(value / baseline).toFixed(2)}x` : "n/a"

/** Large counts with thousands separators (events/s, messages/s). */
export const count = (value: number): string =>
  Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "n/a"

/** Awaits `run` `times` times in a row and returns each duration in milliseconds. */
export const timeRepeated = async (times: number, run: () => Promise<unknown>): Promise<Array<number>> => {
  const samples: Array<number> = []
  for (let i = 0; i < times; i++) {
    const start = performance.now()
    await run()
    samples.push(performance.now() - start)
  }
  return samples
}
