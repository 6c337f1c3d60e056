/**
 * An online migration's plan and its checkpoint: what moves where, the phase reached and the
 * copy cursor, encoded into the executor's string map so a restarted run resumes
 * (onlineMigration.ts; range migrations in migrate.ts, rekeys in rekey.ts).
 */
import { ShardcastError, StateError } from '../../lib/errors.js';
import type pg from 'pg';
import type { PgPools } from '../../stores/postgres/nodes.js';
import { physicalName } from '../../stores/postgres/keys.js';
import type { ShardRoute, TableRoutes } from '../../stores/postgres/routing.js';

export type MigrationKind = 'split' | 'merge' | 'move';

export interface MigrationPlan {
  kind: MigrationKind;
  commandId: string;
  table: string;
  keyColumn: string;
  /** The ranges cut hashint8(keyColumn) (schemas/keyHash.ts); absent in older checkpoints: the column's values. */
  keyHash?: boolean;
  /**
   * The row identity (the primary key): copy cursor, change capture and upserts use it. The key
   * column unless a rekey made another column the key (absent in older checkpoints: the key).
   */
  rowKey?: string;
  sourceShard: string;
  sourceNode: string;
  sourcePhysical: string;
  /** The source shard's whole range before the change. */
  sourceLo: string | null;
  sourceHi: string | null;
  targetShard: string;
  targetNode: string;
  targetPhysical: string;
  /** Merge: the target shard's range before the change. */
  targetLo: string | null;
  targetHi: string | null;
  createTarget: boolean;
  /** The key range that moves. */
  lo: string | null;
  hi: string | null;
  graceMs: number;
  batchRows: number;
}

/** One shard table of a rekey: where it is and the range of the key it holds. */
export interface RekeyShard {
  shard: string;
  node: string;
  physical: string;
  lo: string | null;
  hi: string | null;
  /** A source shard's read replicas, dropped with it after the switch (the new shards start without). */
  replicas?: string[];
}

/**
 * A rekey: every row of every source shard (ranges on `keyColumn`) goes to new shard tables
 * holding ranges of `newKeyColumn`. Rows keep their identity (`rowKey`, the primary key):
 * change capture and copy cursors use it.
 */
export interface RekeyPlan {
  kind: 'rekey';
  commandId: string;
  table: string;
  keyColumn: string;
  rowKey: string;
  newKeyColumn: string;
  /** The new ranges cut hashint8(newKeyColumn) (schemas/keyHash.ts); absent: the column's values. */
  keyHash?: boolean;
  /** Key-range bucket bounds of the new key (its quantiles), recorded with it at the switch; absent in plans made before they were, and for a hashed key. */
  keyBounds?: string[];
  sources: RekeyShard[];
  targets: RekeyShard[];
  graceMs: number;
  batchRows: number;
}

/** The plan of a range migration (split, merge, move, colocate) of `src` into `tgt`. */
export function rangeMigrationPlan(
  commandId: string,
  kind: MigrationPlan['kind'],
  routes: TableRoutes,
  src: ShardRoute,
  tgt: { shard: string; node: string; physical: string; lo: string | null; hi: string | null },
  graceMs: number,
  batchRows: number,
  rowKey: string,
): MigrationPlan {
  return {
    kind,
    commandId,
    table: routes.table,
    keyColumn: routes.keyColumn,
    ...(routes.keyHash ? { keyHash: true } : {}),
    rowKey,
    sourceShard: src.shard,
    sourceNode: src.node,
    sourcePhysical: physicalName(routes.table, src.shard),
    sourceLo: src.lo,
    sourceHi: src.hi,
    targetShard: tgt.shard,
    targetNode: tgt.node,
    targetPhysical: tgt.physical,
    targetLo: tgt.lo,
    targetHi: tgt.hi,
    createTarget: true,
    lo: tgt.lo,
    hi: tgt.hi,
    graceMs,
    batchRows,
  };
}

export type AnyMigrationPlan = MigrationPlan | RekeyPlan;

export interface MigrationEnv {
  pools: PgPools;
  coord: pg.Pool;
  urlOf(node: string): Promise<string>;
  /** Test hook: called after each copied batch (throwing here fails the run midway). */
  afterBatch?: (batch: number, plan: AnyMigrationPlan) => Promise<void> | void;
  /** Test hook: between the source fence commit and the routing commit (crash window). */
  beforeRoutingCommit?: (plan: AnyMigrationPlan) => Promise<void> | void;
  /** Re-creates precomputations on the new shard tables (designs), after the switch and cleanup. */
  afterSwitch?: (table: string, shards: { node: string; physical: string }[]) => Promise<void>;
}

export type Phase = 'prepare' | 'copy' | 'catchup' | 'switching' | 'switched' | 'done';

export interface MigrationState {
  phase: Phase;
  /** The source being copied (a rekey copies its sources one after another). */
  source: number;
  cursor: string | null;
  rowsCopied: number;
  bytes: number;
  batches: number;
  total: number;
  switchPauseMs: number;
  replayed: number;
}

/** The executor is stopping: the run rolls back, and a later run can do the command again. */
export class Aborted extends ShardcastError {
  constructor() {
    super('aborted by the executor (stop requested)', { retriable: true });
  }
}

/** The copy does not match its source (row count or checksum of the range). */
export class VerifyError extends StateError {}

/** The state a migration starts in (and restarts in after rolling back a crashed run). */
export const initialState = (): MigrationState => ({
  phase: 'prepare',
  source: 0,
  cursor: null,
  rowsCopied: 0,
  bytes: 0,
  batches: 0,
  total: 0,
  switchPauseMs: 0,
  replayed: 0,
});

export const encode = (plan: AnyMigrationPlan, st: MigrationState): Record<string, string> => ({
  phase: st.phase,
  source: String(st.source),
  plan: JSON.stringify(plan),
  cursor: st.cursor ?? '',
  rowsCopied: String(st.rowsCopied),
  bytes: String(st.bytes),
  batches: String(st.batches),
  total: String(st.total),
  switchPauseMs: String(st.switchPauseMs),
  replayed: String(st.replayed),
});

export function decode(s: Record<string, string>): MigrationState {
  return {
    phase: (s.phase as Phase) ?? 'prepare',
    source: Number(s.source ?? 0),
    cursor: s.cursor ? s.cursor : null,
    rowsCopied: Number(s.rowsCopied ?? 0),
    bytes: Number(s.bytes ?? 0),
    batches: Number(s.batches ?? 0),
    total: Number(s.total ?? 0),
    switchPauseMs: Number(s.switchPauseMs ?? 0),
    replayed: Number(s.replayed ?? 0),
  };
}

/** The plan a checkpoint was taken for, if any. */
export function planFromState(s: Record<string, string> | null): AnyMigrationPlan | null {
  if (!s?.plan) return null;
  try {
    return JSON.parse(s.plan) as AnyMigrationPlan;
  } catch {
    return null;
  }
}

/** The range a merge leaves: the target [targetLo, targetHi) absorbs the source [sourceLo, sourceHi); they touch. */
export function mergedBounds(p: MigrationPlan): [string | null, string | null] {
  // Target [targetLo, targetHi) absorbs the source [sourceLo, sourceHi); they touch.
  const lo = p.targetLo === null || p.sourceLo === null ? null : BigInt(p.targetLo) < BigInt(p.sourceLo) ? p.targetLo : p.sourceLo;
  const hi = p.targetHi === null || p.sourceHi === null ? null : BigInt(p.targetHi) > BigInt(p.sourceHi) ? p.targetHi : p.sourceHi;
  return [lo, hi];
}

/** SQL filter `key in [$first, $first+1)` (null bounds unbounded) on `k`, a quoted key column or its hash (keySql). */
export function rangeWhere(k: string, first: number): string {
  return `($${first}::bigint IS NULL OR ${k} >= $${first}::bigint) AND ($${first + 1}::bigint IS NULL OR ${k} < $${first + 1}::bigint)`;
}
