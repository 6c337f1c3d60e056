/**
 * Reading the executors' command ledger (`shardcast_exec.ledger` on the coordinator, written by
 * executors/ledger.ts): the status of given commands, for stages that wait on them, the
 * commands taken since a time, for a decide stage planning without its catalog, and the data
 * moves running, for a decide stage releasing held moves within its move limits.
 */
import type pg from 'pg';
import type { AnyCommand } from '../../schemas/types.js';

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

/**
 * Data moves running now, as the executors' ledger knows them (accepted or running, not held for
 * an operator's approval), plus those this process sent that no executor has taken yet: what a
 * held move released now would run beside. Null when the ledger cannot be read.
 */
export class RunningMoves {
  /** Moves sent and not yet in the ledger: id → deadline (one never taken counts until then). */
  private readonly sent = new Map<string, number>();

  constructor(
    private readonly coord: pg.Pool,
    private readonly moveActions: ReadonlySet<string>,
  ) {}

  /** Notes the commands going out now; only data moves count. */
  sending(commands: readonly AnyCommand[]): void {
    for (const c of commands) if (this.moveActions.has(c.action)) this.sent.set(c.commandId, c.deadline);
  }

  async count(now: number): Promise<number | null> {
    // the sent ones first: a move taken between the two reads is then counted by the ledger
    if (this.sent.size > 0) {
      const taken = await ledgerStatuses(this.coord, [...this.sent.keys()]);
      for (const [id, deadline] of this.sent) if (taken.has(id) || now > deadline) this.sent.delete(id);
    }
    try {
      const { rows } = await this.coord.query<{ n: string }>(
        `SELECT count(*) AS n FROM shardcast_exec.ledger
          WHERE status IN ('ACCEPTED', 'RUNNING') AND action = ANY($1) AND (approval IS NULL OR approval = 'approved')`,
        [[...this.moveActions]],
      );
      return Number(rows[0]!.n) + this.sent.size;
    } catch {
      return null;
    }
  }
}
