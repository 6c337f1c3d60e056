/**
 * Operators' standing orders to the running stages, in `shardcast_exec.controls` on the
 * coordinator (beside the executor's ledger): whether deciding is paused (per scope: the consumer
 * group prefix a deployment runs with, `run --group`), and the approval mode of each store. The console writes them; the decide stage reads them at every round, so an
 * order takes effect at the next round and survives restarts of either side.
 */
import type pg from 'pg';

export type ApprovalMode = 'auto' | 'manual';

export interface Controls {
  /** Set while deciding is paused: who paused it and when (ms). */
  paused: { by: string; at: number } | null;
  /** Approval mode per store, as an operator set it (stores not named keep the configured mode). */
  approval: Record<string, { mode: ApprovalMode; by: string; at: number }>;
}

/** The scope of `shardcast run` without `--group`. */
export const DEFAULT_SCOPE = 'shardcast';
const pauseKey = (scope: string) => `decide.paused:${scope}`;
const APPROVAL_PREFIX = 'approval.';

export async function ensureControls(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE SCHEMA IF NOT EXISTS shardcast_exec');
  await pool.query(`CREATE TABLE IF NOT EXISTS shardcast_exec.controls (
    key text PRIMARY KEY, value text NOT NULL, set_by text NOT NULL, set_at timestamptz NOT NULL DEFAULT now())`);
}

/** The controls as they stand for `scope`; a missing table reads as no orders at all. */
export async function readControls(pool: pg.Pool, scope: string = DEFAULT_SCOPE): Promise<Controls> {
  const out: Controls = { paused: null, approval: {} };
  const { rows } = await pool
    .query<{ key: string; value: string; set_by: string; set_at: Date }>('SELECT key, value, set_by, set_at FROM shardcast_exec.controls')
    .catch((err: { code?: string }) => {
      if (err.code === '42P01' || err.code === '3F000') return { rows: [] }; // not made yet: nobody gave an order
      throw err;
    });
  for (const r of rows) {
    const at = new Date(r.set_at).getTime();
    if (r.key === pauseKey(scope) && r.value === 'true') out.paused = { by: r.set_by, at };
    else if (r.key.startsWith(APPROVAL_PREFIX) && (r.value === 'auto' || r.value === 'manual'))
      out.approval[r.key.slice(APPROVAL_PREFIX.length)] = { mode: r.value, by: r.set_by, at };
  }
  return out;
}

async function put(pool: pg.Pool, key: string, value: string, by: string): Promise<void> {
  await ensureControls(pool);
  await pool.query(
    `INSERT INTO shardcast_exec.controls (key, value, set_by) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, set_by = EXCLUDED.set_by, set_at = now()`,
    [key, value, by],
  );
}

export const setDecidePaused = (pool: pg.Pool, scope: string, paused: boolean, by: string) =>
  put(pool, pauseKey(scope), String(paused), by);

export const setApprovalMode = (pool: pg.Pool, store: string, mode: ApprovalMode, by: string) =>
  put(pool, `${APPROVAL_PREFIX}${store}`, mode, by);

/** Forgets the operator's approval mode of `store`: the configured mode applies again. */
export async function clearApprovalMode(pool: pg.Pool, store: string): Promise<void> {
  await ensureControls(pool);
  await pool.query('DELETE FROM shardcast_exec.controls WHERE key = $1', [`${APPROVAL_PREFIX}${store}`]);
}
