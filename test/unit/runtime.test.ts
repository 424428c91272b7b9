/**
 * The suite runs on a maintained Node LTS (the one pinned as a dev dependency), not on whatever
 * Node the machine has; under Deno and Bun it checks nothing of Node's version.
 */
import { assert, describe, it } from "@effect/vitest"

const versions = process.versions as Record<string, string | undefined>
const onNode = versions["deno"] === undefined && versions["bun"] === undefined

describe("the runtime under test", () => {
  it.skipIf(!onNode)("is Node 22 or newer, as the dependencies require", () => {
    const major = Number(process.versions.node.split(".")[0])
    assert.isAtLeast(major, 22, `running on Node ${process.version}`)
  })
})
