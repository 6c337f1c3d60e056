/** Prints rows as an aligned text table for people (commands print JSON with --json). */
export function formatTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) =>
    typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v === null || v === undefined ? '' : String(v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

export function printTable(rows: Record<string, unknown>[]): void {
  process.stdout.write(`${formatTable(rows)}\n`);
}
