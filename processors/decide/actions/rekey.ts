/**
 * Recommend a partition key from the predicates seen: the column set (one column, or two as a
 * composite key) that the largest share of a table's queries filter on, when that share is at
 * least rekey.minShare and differs from the current key. A recommendation: it always needs
 * approval, and its benefit is the share of queries that stop fanning out to every partition.
 * PostgreSQL shard tables are routed by one column (executors/postgres/rekey.ts), so for them
 * only single columns are considered.
 */
import type { StoreKind } from '../../../schemas/types.js';
import type { PredicateStat, TableSpec } from '../state.js';
import { type ApplyContext, type Candidate, type CommandOf, type PlanContext, type PlannedOp, fmtPct, storeKindOf } from './common.js';

export function recommendKey(
  stats: readonly PredicateStat[],
  minShare: number,
  maxColumns = 2,
): { columns: string[]; share: number; queries: number } | null {
  const total = stats.reduce((a, s) => a + s.count, 0);
  if (total <= 0) return null;
  const cover = (set: string[]) => stats.reduce((a, s) => (set.every((c) => s.columns.includes(c)) ? a + s.count : a), 0) / total;
  const singles = [...new Set(stats.flatMap((s) => s.columns))].sort();
  let best: { columns: string[]; share: number } | null = null;
  const consider = (columns: string[], bonus: number) => {
    const share = cover(columns);
    if (share < minShare) return;
    if (!best || share * bonus > best.share * (best.columns.length > 1 ? 1.1 : 1)) best = { columns, share };
  };
  for (const c of singles) consider([c], 1);
  // a composite key wins only when nearly as many queries carry both columns
  if (maxColumns >= 2)
    for (let i = 0; i < singles.length; i++) for (let j = i + 1; j < singles.length; j++) consider([singles[i]!, singles[j]!], 1.1);
  const b = best as { columns: string[]; share: number } | null;
  return b ? { ...b, queries: total } : null;
}

export function planRekeys(ctx: PlanContext): Candidate[] {
  const { state, cfg } = ctx;
  const out: Candidate[] = [];
  for (const t of state.tables) {
    const stats = state.predicates.filter((p) => p.table === t.name);
    const kind = storeKindOf(state, t.store);
    const rec = recommendKey(stats, cfg.rekey.minShare, kind === 'postgres' ? 1 : 2);
    if (!rec || rec.queries < cfg.rekey.minQueries) continue;
    const same = rec.columns.length === t.keyColumns.length && rec.columns.every((c, i) => c === t.keyColumns[i]);
    if (same) continue;
    const currentShare = t.keyColumns.length
      ? stats.reduce((a, s) => (t.keyColumns.every((c) => s.columns.includes(c)) ? a + s.count : a), 0) / rec.queries
      : 0;
    const gain = rec.share - currentShare;
    if (gain <= 0.1) continue;
    const bytes = state.partitions.filter((p) => p.table === t.name).reduce((a, p) => a + p.sizeBytes, 0);
    out.push({
      action: 'rekey',
      ops: [
        rekeyOp(
          t,
          kind,
          { keyColumns: rec.columns.join(','), previousKey: t.keyColumns.join(','), share: rec.share.toFixed(3) },
          bytes,
          Math.ceil((bytes / cfg.throttleBytesPerSec) * 1000),
        ),
      ],
      explanation: `re-key ${t.name} on (${rec.columns.join(', ')}): ${fmtPct(rec.share)} of ${rec.queries} queries filter on it vs ${fmtPct(currentShare)} on (${t.keyColumns.join(', ') || 'none'})`,
      run() {},
      recommendation: { benefit: gain * rec.queries, cost: bytes / 1024 ** 3 },
    });
  }
  return out;
}

/** The one operation of a rekey of table `t`: the whole table, no partition or node named. */
export function rekeyOp(t: TableSpec, storeKind: StoreKind, params: Record<string, string>, bytes: number, durationMs: number): PlannedOp {
  return {
    kind: 'partition',
    action: 'rekey',
    store: t.store,
    storeKind,
    table: t.name,
    partition: null,
    sourceNode: null,
    targetNode: null,
    node: null,
    params,
    bytes,
    durationMs,
    startStep: 0,
    finishStep: 1,
    dependsOn: [],
    target: t.name,
  };
}

/**
 * A finished re-key changes the table's key columns (and whether ranges cut a hash of them); the
 * new shards, as many as the old, take the old shards' nodes in turn and start without replicas
 * (executors/postgres/rekeyPlan.ts), so ranges and nodes stay as they are and replicas go.
 */
export function applyRekey({ input }: ApplyContext, cmd: CommandOf<'partition'>): void {
  const cols = (cmd.params.keyColumns ?? '').split(',').filter(Boolean);
  const keyHash = cmd.params.keyHash === 'true';
  input.tables = input.tables.map((t) => (t.name === cmd.table ? { ...t, keyColumns: cols, keyHash } : t));
  input.partitions = input.partitions.map((p) => (p.table === cmd.table && p.replicas?.length ? { ...p, replicas: [] } : p));
}
