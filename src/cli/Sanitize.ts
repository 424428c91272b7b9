/**
 * Terminal-safe text. Container names, labels, projects and IDs are chosen by whoever created the
 * container; printed raw, an ESC could retitle the window (OSC), clear the screen or move the
 * cursor (CSI), and bidi overrides could make one name read as another. Human output passes every
 * such string through {@link terminalSafe}; JSON output never does (it must stay exact, and
 * `JSON.stringify` already escapes C0 controls).
 *
 * @since 0.1.0
 */

/**
 * What is escaped:
 * - every control character (`\p{Cc}`): C0 (including ESC, which starts every CSI and OSC
 *   sequence, and BEL, which ends OSC), DEL and C1 (e.g. U+009B, an 8-bit CSI);
 * - line and paragraph separators, which some terminals treat as line breaks;
 * - bidi controls (embeddings, overrides, isolates and marks), which reorder what is displayed;
 * - unpaired surrogates (in `u` mode a paired one is a single code point and never matches),
 *   which terminals render unpredictably;
 * - U+FFFD, which stands for bytes that were not UTF-8 (containerd passes label bytes as given):
 *   shown as `\u{FFFD}`, so that a replaced byte is not mistaken for a glyph.
 */
const unsafeCharacters = /[\p{Cc}\u2028\u2029\uFFFD\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]/gu

const shortEscapes: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" }

const escapeCharacter = (character: string): string => {
  const short = shortEscapes[character]
  if (short !== undefined) return short
  const code = character.charCodeAt(0)
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u{${code.toString(16).toUpperCase().padStart(4, "0")}}`
}

/**
 * The text with every character a terminal would interpret (see above) replaced by a visible
 * escape: `\t`, `\n`, `\r`, `\xNN` below U+0100, else `\u{NNNN}`. Everything else, including
 * wide characters and emoji, is kept. Escape sequences thus show up as harmless text, e.g.
 * `\x1b]0;pwned\x07`.
 *
 * @example
 * ```ts
 * terminalSafe("web\x1b[2J") // "web\\x1b[2J"
 * ```
 * @category formatting
 * @since 0.1.0
 */
export const terminalSafe = (text: string): string => text.replace(unsafeCharacters, escapeCharacter)

/**
 * {@link terminalSafe} line by line: line breaks stay line breaks (for multi-line messages that
 * are ours, such as parse errors with suggestions), every other control character is escaped.
 *
 * @category formatting
 * @since 0.1.0
 */
export const terminalSafeLines = (text: string): string => text.split("\n").map(terminalSafe).join("\n")
