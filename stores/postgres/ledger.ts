/**
 * Reading the executors' command ledger (`shardcast_exec.ledger` on the coordinator, written by
 * executors/ledger.ts): the status of given commands, for stages that wait on them, and the
 * commands taken since a time, for a decide stage planning without its catalog.
 */
import type pg from 'pg';

/** Ledger status by command id; commands the ledger does not know (or a failed read) are absent. */
export async function ledgerStatuses(coord: pg.Pool, commandIds: readonly string[]): Promise<Map<string, string>> {
  const { rows } = await coord
    .query<{ command_id: string; status: string }>('SELECT command_id, status FROM shardcast_exec.ledger WHERE command_id = ANY($1)', [
      [...commandIds],
    ])
    .catch(() => ({ rows: [] as { command_id: string; status: string }[] }));
  return new Map(rows.map((r) => [r.command_id, r.status]));
}

/** A command as an executor took it, its status and when that last changed (ms since the epoch). */
export interface LedgerCommandRow {
  command: unknown;
  status: string;
  updatedAt: number;
}

/**
 * The commands whose ledger row changed since `sinceMs`, newest first (at most `limit`). None
 * before any executor made the ledger; a read that fails otherwise throws, for the stage to retry.
 */
export async function ledgerCommandsSince(coord: pg.Pool, sinceMs: number, limit = 1000): Promise<LedgerCommandRow[]> {
  try {
    const { rows } = await coord.query<{ command: unknown; status: string; updated_at: Date }>(
      `SELECT command, status, updated_at FROM shardcast_exec.ledger
       WHERE command IS NOT NULL AND updated_at >= to_timestamp($1 / 1000.0) ORDER BY updated_at DESC LIMIT $2`,
      [sinceMs, limit],
    );
    return rows.map((r) => ({ command: r.command, status: r.status, updatedAt: r.updated_at.getTime() }));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return []; // no ledger yet
    throw err;
  }
}
