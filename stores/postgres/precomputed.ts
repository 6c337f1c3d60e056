/**
 * Precomputations (materialized views per shard table) as both sides see them: the executor
 * builds them from a `PrecomputeSpec` and records the spec in `shardcast_route.designs`; the
 * routing client reads that registry and answers a statement from the view when the statement
 * is exactly the view's own query (`matchPrecomputed`).
 */
import { quoteIdent } from '../identifiers.js';
import { shardObjectName } from './keys.js';
import { loadDesigns } from './designs.js';
import type { Queryable } from './nodes.js';

export interface PrecomputeSpec {
  template: 'count_by' | 'sum_by' | 'daily_sum';
  name: string;
  groupBy: string;
  value: string | null;
}

/** The materialized view of precomputation `name` over one shard table. */
export const precomputedViewName = (physical: string, name: string) => shardObjectName(physical, `mv_${name}`);

/** The view's columns: the group, the row count and (sum templates) the total. */
const viewColumns = (spec: PrecomputeSpec) => (spec.template === 'count_by' ? 'grp, n' : 'grp, n, total');

/** The SELECT of a precomputation reading from `from` (a quoted table, or `{t}` for the client's form). */
export function precomputeSelect(spec: PrecomputeSpec, from: string, where = ''): string {
  const g = quoteIdent(spec.groupBy);
  switch (spec.template) {
    case 'count_by':
      return `SELECT ${g} AS grp, count(*) AS n FROM ${from}${where} GROUP BY ${g}`;
    case 'sum_by':
      return `SELECT ${g} AS grp, count(*) AS n, sum(${quoteIdent(spec.value!)}) AS total FROM ${from}${where} GROUP BY ${g}`;
    case 'daily_sum':
      return `SELECT date_trunc('day', ${g} AT TIME ZONE 'UTC') AS grp, count(*) AS n, sum(${quoteIdent(spec.value!)}) AS total FROM ${from}${where} GROUP BY 1`;
  }
}

/** The SELECT of a precomputation over one shard table, and its unique key column. */
export function renderPrecompute(spec: PrecomputeSpec, physical: string): { select: string; key: string } {
  return { select: precomputeSelect(spec, `public.${quoteIdent(physical)}`), key: 'grp' };
}

/** Whitespace runs as one space, no trailing semicolon: the only normalisation matching applies. */
const normalize = (sql: string) => sql.replace(/\s+/g, ' ').trim().replace(/\s*;$/, '');

/**
 * The statement that reads the view instead of `{t}`, or null. The rule is exact: after
 * `normalize`, the statement must equal the precomputation's own query over `{t}` as
 * `precomputeSelect` writes it, or (count_by, sum_by) that query with `WHERE "<groupBy>" = $1`
 * before its GROUP BY, which becomes a lookup of one group. Anything else runs unchanged.
 */
export function matchPrecomputed(sql: string, specs: readonly PrecomputeSpec[], physical: string): string | null {
  const text = normalize(sql);
  for (const spec of specs) {
    const view = `public.${quoteIdent(precomputedViewName(physical, spec.name))}`;
    if (text === precomputeSelect(spec, '{t}')) return `SELECT ${viewColumns(spec)} FROM ${view}`;
    if (spec.template !== 'daily_sum' && text === precomputeSelect(spec, '{t}', ` WHERE ${quoteIdent(spec.groupBy)} = $1`)) {
      return `SELECT ${viewColumns(spec)} FROM ${view} WHERE grp = $1`;
    }
  }
  return null;
}

/** The precomputations the executor recorded for `table` (read on the coordinator). */
export const loadPrecomputes = (coord: Queryable, table: string) => loadDesigns<PrecomputeSpec>(coord, table, 'precompute');
