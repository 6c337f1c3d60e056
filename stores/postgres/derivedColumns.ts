/**
 * Derived columns as the routing client uses them: the executor adds a STORED generated column
 * `name` computed as `sql` on every shard table and records `{ name, sql }` in the design
 * registry; a read whose text contains that expression exactly reads the column instead.
 */
import { quoteIdent } from '../identifiers.js';
import { loadDesigns } from './designs.js';
import type { Queryable } from './nodes.js';

export interface DerivedColumn {
  name: string;
  /** The generated column's expression as the executor wrote it, e.g. `lower("payload")`. */
  sql: string;
}

/** Text whose quoting the scan below does not follow: dollar quotes, comments, backslash escapes. */
const UNTRACKED = /\$\$|--|\/\*|\\'/;

/** True when `at` lies outside every '…' literal and "…" identifier of `sql`. */
function inCode(sql: string, at: number): boolean {
  let quote: string | null = null;
  for (let i = 0; i < at; i++) {
    const ch = sql[i];
    if (quote === null && (ch === "'" || ch === '"')) quote = ch;
    else if (ch === quote) quote = null; // a doubled quote closes and reopens: same state after both
  }
  return quote === null;
}

/**
 * `sql` with every occurrence of a derived column's expression, written exactly as the executor
 * wrote it and outside string literals and quoted names, replaced by the column (same value: the column is that
 * expression, stored). A statement with dollar quotes, comments or backslash escapes is left as
 * written, since where its literals end is not followed here.
 */
export function useDerivedColumns(sql: string, columns: readonly DerivedColumn[]): string {
  if (columns.length === 0 || UNTRACKED.test(sql)) return sql;
  let out = sql;
  for (const c of columns) {
    let from = 0;
    for (let at = out.indexOf(c.sql, from); at >= 0; at = out.indexOf(c.sql, from)) {
      if (!inCode(out, at)) {
        from = at + c.sql.length;
        continue;
      }
      const col = quoteIdent(c.name);
      out = out.slice(0, at) + col + out.slice(at + c.sql.length);
      from = at + col.length;
    }
  }
  return out;
}

/** The derived columns the executor recorded for `table` (read on the coordinator). */
export const loadDerivedColumns = (coord: Queryable, table: string) => loadDesigns<DerivedColumn>(coord, table, 'derived');
