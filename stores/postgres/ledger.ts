/**
 * Reading the executors' command ledger (`shardcast_exec.ledger` on the coordinator, written by
 * executors/ledger.ts): the status of given commands, for stages that wait on them.
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
