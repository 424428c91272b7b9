/**
 * The version `whalewatcher --version` prints. A constant rather than a read of package.json: the
 * sources are also published to JSR, where package.json is not part of the package; a unit test
 * keeps it equal to the version in package.json and deno.json.
 *
 * @since 0.1.0
 */

/**
 * The package version.
 *
 * @category constants
 * @since 0.1.0
 */
export const version: string = "0.1.0"
