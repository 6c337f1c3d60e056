/**
 * Key plans: what in a compiled template can constrain one table's partition key, worked out
 * once per template instead of once per statement.
 *
 * The general key-range path fills every predicate's values and walks the template's WHERE
 * structure through the interval algebra for every statement. Nearly every real statement is
 * simpler than that: the key column appears in at most one predicate, reached from the WHERE's
 * root through ANDs only (`WHERE id = ?`, `WHERE id BETWEEN ? AND ? AND status = ?`). Then every
 * other part of the WHERE admits any key (the identity of the intersection), so the key set is
 * that one predicate's set, and the statement's other literals never need to be read.
 *
 * A plan exists only when that holds (`keyPlanOf` returns null otherwise, and the caller takes
 * the general path); a property test checks that both paths give the same analysis.
 */
import type { BoolIR, CompiledTemplate, KeyPlan, KeyPlans, PartitionKeySpec } from './ir.js';

export type { KeyPlan, KeyPlans } from './ir.js';

/** Number of places predicate `i` appears in the WHERE structure. */
function occurrences(w: BoolIR, i: number): number {
  if (w.t === 'pred') return w.i === i ? 1 : 0;
  if (w.t === 'any') return 0;
  let n = 0;
  for (const c of w.c) n += occurrences(c, i);
  return n;
}

/** True when predicate `i` is the root or reached from it through AND nodes only. */
function onAndPath(w: BoolIR, i: number): boolean {
  if (w.t === 'pred') return w.i === i;
  if (w.t === 'and') return w.c.some((c) => onAndPath(c, i));
  return false;
}

/** The plan for `table` keyed on `column`, or null when only the general path is exact. */
export function keyPlanOf(c: CompiledTemplate, table: string, column: string): KeyPlan | null {
  let pred = -1;
  for (let i = 0; i < c.preds.length; i++) {
    if (c.preds[i]!.column !== column) continue;
    if (pred !== -1) return null;
    pred = i;
  }
  if (pred === -1) return { pred };
  const p = c.preds[pred]!;
  if (!(p.table === table || (p.table === null && p.cands?.includes(table)))) return null;
  const scopes = c.scopes.filter((s) => s.tables.includes(table));
  if (scopes.length !== 1) return null;
  const where = scopes[0]!.where;
  return occurrences(where, pred) === 1 && onAndPath(where, pred) ? { pred } : null;
}

/** The plans of a cached template for this key config, worked out on first use and kept on it. */
export function keyPlansOf(c: CompiledTemplate, partitionKeys: Record<string, PartitionKeySpec>): KeyPlans {
  const memo = c.keyPlans;
  if (memo && memo.partitionKeys === partitionKeys) return memo;
  const byTable = c.tables.map((t) => {
    const spec = partitionKeys[t];
    return spec ? keyPlanOf(c, t, spec.column) : null;
  });
  c.keyPlans = { partitionKeys, byTable };
  return c.keyPlans;
}
