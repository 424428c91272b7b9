/**
 * The results table: sections of rows, rendered as Markdown (RESULTS.md, and stdout, where a
 * Markdown table is still readable and greppable by the CI test).
 */

export interface Row {
  readonly what: string
  readonly result: string
  readonly baseline: string
  readonly ratio: string
  readonly target: string
  /** "ok", "MISSED", or "" where there is no target. */
  readonly verdict: string
}

export interface Section {
  readonly title: string
  readonly rows: Array<Row>
  /** Notes printed under the section's table: what exactly was measured, and how. */
  readonly notes: Array<string>
}

export const section = (title: string): Section => ({ title, rows: [], notes: [] })

export const row = (
  what: string,
  result: string,
  fields: Partial<Omit<Row, "what" | "result">> = {}
): Row => ({
  what,
  result,
  baseline: fields.baseline ?? "",
  ratio: fields.ratio ?? "",
  target: fields.target ?? "",
  verdict: fields.verdict ?? ""
})

/** "ok" when `met`, else "MISSED"; "n/a" when the value could not be measured. */
export const verdict = (met: boolean | undefined): string => met === undefined ? "n/a" : met ? "ok" : "MISSED"

const escape = (cell: string): string => cell.replaceAll("|", "\\|")

export const renderSection = (s: Section): string => {
  const header = ["measurement", "result", "baseline", "ratio", "target", "verdict"]
  const lines = [
    `### ${s.title}`,
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...s.rows.map((r) =>
      `| ${[r.what, r.result, r.baseline, r.ratio, r.target, r.verdict].map(escape).join(" | ")} |`
    )
  ]
  if (s.notes.length > 0) lines.push("", ...s.notes.map((note) => `- ${note}`))
  return lines.join("\n")
}
