/**
 * Append hot spots: a table keyed by a value that grows with every insert (a sequence, a
 * timestamp) takes all its inserts, and with reads of the newest rows most of its load, in its
 * newest key range. Splits stop at a key bucket, and replicas spread reads while every copy
 * takes every write, so range placement cannot spread the frontier; hashing the key does (the
 * answer CockroachDB's hash-sharded indexes and Spanner's key guidance give sequential keys).
 * The recommendation is a `rekey` of the same column with `keyHash`: ranges of the hashed key.
 *
 * Recognised from the key buckets: the table's load ends at a frontier bucket with empty key
 * space above it, or in its last bucket (unbounded: no key space above to see empty) whose
 * written keys keep growing window after window (keyGrowth.ts); the frontier (or the bucket just
 * below it, while the frontier fills) is the hottest bucket, the frontier takes at least
 * `rekey.appendWriteShare` of the table's writes, and the hot bucket's planned peak needs at
 * least `rekey.appendNodes` nodes at targetUtil. A
 * table whose templates filter its key by range is left alone: those scans would reach every
 * shard after hashing.
 */
import { peakOf } from '../loadProfile.js';
import type { ClusterState } from '../state.js';
import { type Candidate, type PlanContext, fmtPct, storeKindOf } from './common.js';
import { rekeyOp } from './rekey.js';

/** Share of the table's load below which a bucket counts as empty key space. */
const EMPTY_SHARE = 0.001;

export interface AppendFrontier {
  /** Index of the frontier bucket among the table's buckets in key order, and of the hottest. */
  frontier: number;
  hottest: number;
  /** The frontier's share of the table's writes in the newest window. */
  writeShare: number;
  /** The hottest bucket's planned peak load per step, and its planned load per step. */
  peak: number;
  total: ArrayLike<number>;
}

/** The append frontier of a table's buckets (in key order), or null when its load does not end in one. */
export function appendFrontier(
  buckets: readonly { total: ArrayLike<number>; currentReads: number; currentWrites: number; appending?: boolean }[],
): AppendFrontier | null {
  const cur = buckets.map((b) => b.currentReads + b.currentWrites);
  const total = cur.reduce((a, b) => a + b, 0);
  const writes = buckets.reduce((a, b) => a + b.currentWrites, 0);
  if (total <= 0 || writes <= 0) return null;
  let frontier = -1;
  cur.forEach((c, i) => {
    if (c > EMPTY_SHARE * total) frontier = i;
  });
  // an append key leaves the key space above its frontier empty; above the last bucket there is
  // none to look at, so there its written keys must be seen growing
  if (frontier < 1) return null;
  if (frontier === buckets.length - 1 && buckets[frontier]!.appending !== true) return null;
  let hottest = 0;
  cur.forEach((c, i) => {
    if (c > cur[hottest]!) hottest = i;
  });
  if (hottest < frontier - 1) return null;
  return {
    frontier,
    hottest,
    writeShare: buckets[frontier]!.currentWrites / writes,
    peak: peakOf(buckets[hottest]!.total).value,
    total: buckets[hottest]!.total,
  };
}

/** Capacity-minutes of `load` (per step) above `limit`. */
function excessCapacityMinutes(load: ArrayLike<number>, limit: number, capacity: number, stepMs: number): number {
  let sum = 0;
  for (let k = 0; k < load.length; k++) sum += Math.max(0, load[k]! - limit);
  return (sum / capacity) * (stepMs / 60_000);
}

/** Whether templates on `table` filter `column` by range (the scans hashing would fan out). */
function scansKey(state: ClusterState, table: string, column: string | undefined): boolean {
  return state.templates.some((t) => t.table === table && t.kind === 'range' && column !== undefined && t.columns.includes(column));
}

export function planAppendRekeys(ctx: PlanContext): Candidate[] {
  const { state, profile, cfg } = ctx;
  const capacity = cfg.scale.nodeCapacity ?? Math.max(...state.nodes.map((n) => n.capacity), 0);
  if (!(capacity > 0)) return [];
  const out: Candidate[] = [];
  for (const t of state.tables) {
    if (t.keyHash || t.keyColumns.length !== 1 || storeKindOf(state, t.store) !== 'postgres') continue;
    if (scansKey(state, t.name, t.keyColumns[0])) continue;
    // a rekey of the table still running (or just done) decides first
    if (state.recent.some((r) => r.action === 'rekey' && r.target === t.name && ctx.now - r.ts < cfg.safety.flapWindowMs)) continue;
    const f = appendFrontier(profile.bucketsByTable.get(t.name) ?? []);
    if (!f || f.writeShare < cfg.rekey.appendWriteShare) continue;
    const nodes = f.peak / (cfg.targetUtil * capacity);
    if (nodes < cfg.rekey.appendNodes) continue;
    const limit = cfg.rekey.appendNodes * cfg.targetUtil * capacity;
    const bytes = state.partitions.filter((p) => p.table === t.name).reduce((a, p) => a + p.sizeBytes, 0);
    const key = t.keyColumns[0]!;
    out.push({
      action: 'rekey',
      ops: [
        rekeyOp(
          t,
          'postgres',
          { keyColumns: key, keyHash: 'true', previousKey: key },
          bytes,
          Math.ceil((bytes / (cfg.safety.maxBytesPerMinute / 60)) * 1000),
        ),
      ],
      explanation: `hash ${t.name}'s key ${key}: inserts append at its newest key range (${fmtPct(f.writeShare)} of its writes), which needs ${nodes.toFixed(1)} nodes at its forecast peak; no split or replica spreads it`,
      run() {},
      // the hot bucket's load above what one range should carry (appendNodes nodes at the
      // target) over the horizon, which hashing spreads, against the GiB the rekey copies, in
      // the cost model's weights
      recommendation: {
        benefit: cfg.weights.headroom * excessCapacityMinutes(f.total, limit, capacity, profile.stepMs),
        cost: cfg.weights.gbMoved * (bytes / 1024 ** 3),
      },
    });
  }
  return out;
}
