/**
 * containerd's rule for namespaces and container ids: alphanumerics, single `.`, `_` or `-`
 * between them, at most 76 characters. Anything else containerd rejects (a namespace with
 * `InvalidArgument`, a header with control characters breaks the HTTP/2 stream), so user input
 * is checked against it before it is sent.
 */
const identifier = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/

/** The longest identifier containerd accepts. */
const maxLength = 76

/** True when containerd would accept `value` as a namespace or container id. */
export const isIdentifier = (value: string): boolean => value.length <= maxLength && identifier.test(value)
