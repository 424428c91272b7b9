/**
 * The one order of things by ID: code unit order of the ID, as containers are listed everywhere.
 * @internal
 */
import { Order } from "effect"

/** Anything with an ID (containers, tasks), by that ID. */
export const byId: Order.Order<{ readonly id: string }> = Order.mapInput(Order.String, (item: { readonly id: string }) => item.id)
