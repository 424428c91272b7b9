/**
 * containerd stores label bytes as given and sends them in proto3 `string` fields. Our proto/
 * turns off UTF-8 validation (`features.utf8_validation = NONE`), so the decoder replaces each
 * invalid byte sequence with U+FFFD instead of failing the whole response; this counts where.
 * @internal
 */

const replacement = "\uFFFD"

/** How many label keys and values hold U+FFFD (a replaced byte sequence, or one the creator wrote). */
export const replacedInLabels = (labels: Readonly<Record<string, string>>): number => {
  let count = 0
  for (const key in labels) {
    if (key.includes(replacement)) count++
    if (labels[key]!.includes(replacement)) count++
  }
  return count
}
