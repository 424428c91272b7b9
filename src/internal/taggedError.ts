/**
 * The base class of the library's tagged errors.
 * @internal
 */
import { type Cause, Data } from "effect"

/**
 * The constructor type `Data.TaggedError` returns, spelled out so that exported error classes have
 * explicit types (JSR allows no inferred super class).
 */
export type TaggedErrorClass<Tag extends string, Fields> = new(
  args: Fields
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<Fields>

/** A base class for a tagged error with the given fields. */
export const taggedError = <Tag extends string, Fields>(tag: Tag): TaggedErrorClass<Tag, Fields> =>
  Data.TaggedError(tag) as unknown as TaggedErrorClass<Tag, Fields>
