/**
 * Aligned text tables for people (commands print JSON with --json). A column whose cells are
 * all numbers, or numeric strings such as ClickHouse's 64-bit integers, is right-aligned; a
 * column with fractions shows each number with the same digits after the point.
 */

export interface TableOptions {
  /** Column order; default: every key in the order rows first use it. */
  columns?: string[];
  /** Put before every line, e.g. two spaces inside a report. */
  indent?: string;
  /** Digits after the point for numbers that are not integers (default 3). */
  decimals?: number;
}

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?%?$/;

function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && NUMERIC.test(v));
}

export function formatTable(rows: readonly Record<string, unknown>[], opts: TableOptions = {}): string {
  const indent = opts.indent ?? '';
  if (rows.length === 0) return `${indent}(no rows)`;
  const cols = opts.columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const decimals = opts.decimals ?? 3;
  // a column with any fraction shows every number with the same digits after the point
  const fractional = cols.map((c) => rows.some((r) => typeof r[c] === 'number' && !Number.isInteger(r[c])));
  const cell = (v: unknown, col: number): string => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number' && fractional[col] && Number.isFinite(v)) return v.toFixed(decimals);
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  };
  const right = cols.map((c) => {
    const present = rows.map((r) => r[c]).filter((v) => v !== null && v !== undefined && v !== '');
    return present.length > 0 && present.every(isNumeric);
  });
  const body = rows.map((r) => cols.map((c, i) => cell(r[c], i)));
  const widths = cols.map((c, i) => Math.max(c.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((v, i) => (right[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export function printTable(rows: readonly Record<string, unknown>[], opts: TableOptions = {}): void {
  process.stdout.write(`${formatTable(rows, opts)}\n`);
}
