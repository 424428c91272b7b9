/**
 * Waiting until a Watcher shows what a test expects: a portfolio that satisfies a check, or one
 * that agrees with the engine it watches (the same containers, with the same PIDs, as the
 * engine's own tools tell).
 */
import { Array as Arr, Effect, Order } from "effect"
import { Portfolio, type Watcher } from "../../src/index.ts"
import { eventually } from "../eventually.ts"

/** The alive containers: display ID to PID. */
export type Picture = ReadonlyMap<string, number>

/** A portfolio's picture. */
export const picture = (portfolio: Portfolio.Portfolio): Picture =>
  new Map(Portfolio.containers(portfolio).map((container) => [container.id, container.pid]))

const describePicture = (of: Picture): string =>
  JSON.stringify(Arr.sort(of.entries(), Order.mapInput(Order.String, ([id]: readonly [string, number]) => id)))

/**
 * Waits until the watcher's portfolio shows `truth` (the engine's account, asked again on every
 * try), up to `timeoutMillis`; returns the truth both agree on.
 */
export const converge = <E>(
  truth: Effect.Effect<Picture, E>,
  watcher: Watcher.WatcherShape,
  timeoutMillis = 30_000
): Effect.Effect<Picture, E> =>
  Effect.gen(function*() {
    let expected: Picture = new Map()
    let actual: Picture = new Map()
    yield* eventually(
      Effect.gen(function*() {
        expected = yield* truth
        actual = picture(yield* watcher.portfolio.get)
        return describePicture(expected) === describePicture(actual)
      }),
      () => `convergence: truth ${describePicture(expected)}, watcher ${describePicture(actual)}`,
      timeoutMillis
    )
    return expected
  })

/** Waits until `check` holds on the watcher's portfolio, up to `timeoutMillis`; a failure shows the portfolio. */
export const untilPortfolio = (
  watcher: Watcher.WatcherShape,
  check: (portfolio: Portfolio.Portfolio) => boolean,
  what: string,
  timeoutMillis = 30_000
): Effect.Effect<void> => {
  let last = Portfolio.empty
  return eventually(
    Effect.map(watcher.portfolio.get, (portfolio) => check(last = portfolio)),
    () => `${what}; the watcher has ${JSON.stringify(Portfolio.containers(last))}`,
    timeoutMillis
  )
}
