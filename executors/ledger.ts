/**
 * The executor's durable record of commands: which ids it has seen, their status, and the
 * progress state an adapter checkpointed. Kept in PostgreSQL (node 0 by default) so that a
 * redelivered command is not run twice and a restarted executor can resume or roll back what
 * it had in flight.
 */
import { newPgPool } from '../stores/postgres/pool.js';
import type pg from 'pg';
import type { CommandStatus } from '../schemas/types.js';

export interface LedgerEntry {
  commandId: string;
  status: CommandStatus;
  state: Record<string, string>;
  attempts: number;
  /** For a command that needs approval: pending, approved or denied (null: none needed). */
  approval: Approval | null;
}

export type Approval = 'pending' | 'approved' | 'denied';

/** A ledger row as operators see it: the entry, the command as it arrived, who decided and when. */
export interface LedgerRecord extends LedgerEntry {
  action: string;
  approvedBy: string | null;
  approvedAt: Date | null;
  /** Who asked the executor to stop this command (null: nobody). */
  stopRequestedBy: string | null;
  command: unknown;
  createdAt: Date;
  updatedAt: Date;
}

const TERMINAL: ReadonlySet<CommandStatus> = new Set(['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED']);
export const isTerminal = (s: CommandStatus) => TERMINAL.has(s);

export class CommandLedger {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(connectionString: string): Promise<CommandLedger> {
    const pool = newPgPool({ connectionString, max: 2 });
    await pool.query(`CREATE SCHEMA IF NOT EXISTS shardcast_exec`);
    await pool.query(`CREATE TABLE IF NOT EXISTS shardcast_exec.ledger (
      command_id text PRIMARY KEY,
      action text NOT NULL,
      status text NOT NULL,
      state jsonb NOT NULL DEFAULT '{}'::jsonb,
      attempts int NOT NULL DEFAULT 0,
      command jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await pool.query(`ALTER TABLE shardcast_exec.ledger
      ADD COLUMN IF NOT EXISTS approval text, ADD COLUMN IF NOT EXISTS approved_by text, ADD COLUMN IF NOT EXISTS approved_at timestamptz`);
    await pool.query(`ALTER TABLE shardcast_exec.ledger
      ADD COLUMN IF NOT EXISTS stop_requested_by text, ADD COLUMN IF NOT EXISTS stop_requested_at timestamptz`);
    return new CommandLedger(pool);
  }

  async get(commandId: string): Promise<LedgerEntry | null> {
    const { rows } = await this.pool.query(
      'SELECT command_id, status, state, attempts, approval FROM shardcast_exec.ledger WHERE command_id = $1',
      [commandId],
    );
    const r = rows[0];
    return r ? { commandId: r.command_id, status: r.status, state: r.state, attempts: r.attempts, approval: r.approval } : null;
  }

  /** Records a valid command that waits for an operator's approval before anything runs. */
  async holdForApproval(commandId: string, action: string, command: unknown): Promise<void> {
    await this.pool.query(
      `INSERT INTO shardcast_exec.ledger (command_id, action, status, attempts, command, approval) VALUES ($1, $2, 'ACCEPTED', 0, $3, 'pending')
       ON CONFLICT (command_id) DO NOTHING`,
      [commandId, action, JSON.stringify(command)],
    );
  }

  /**
   * An operator's verdict on a pending command. Returns false when the id is not pending
   * (unknown, already decided, or needing no approval).
   */
  async decideApproval(commandId: string, verdict: 'approved' | 'denied', by: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE shardcast_exec.ledger SET approval = $2, approved_by = $3, approved_at = now(), updated_at = now()
       WHERE command_id = $1 AND approval = 'pending' AND status = 'ACCEPTED'`,
      [commandId, verdict, by],
    );
    return rowCount === 1;
  }

  /**
   * Ledger rows for operators, newest first: all of them (at most `limit`), or those with one of
   * `statuses`, or the one `commandId`; `waiting`: those waiting for approval, oldest first.
   */
  async entries(
    opts: { commandId?: string; statuses?: readonly CommandStatus[]; waiting?: boolean; limit?: number } = {},
  ): Promise<LedgerRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT command_id, action, status, state, attempts, approval, approved_by, approved_at, command, created_at, updated_at,
         stop_requested_by
       FROM shardcast_exec.ledger
       WHERE ($1::text IS NULL OR command_id = $1) AND ($2::text[] IS NULL OR status = ANY($2))
         AND ($4::boolean IS NOT TRUE OR (approval = 'pending' AND status = 'ACCEPTED'))
       ORDER BY CASE WHEN $4 THEN created_at END, created_at DESC, command_id LIMIT $3`,
      [opts.commandId ?? null, opts.statuses ? [...opts.statuses] : null, opts.limit ?? 100, opts.waiting ?? false],
    );
    return rows.map((r) => ({
      commandId: r.command_id,
      action: r.action,
      status: r.status,
      state: r.state,
      attempts: r.attempts,
      approval: r.approval,
      approvedBy: r.approved_by,
      approvedAt: r.approved_at,
      stopRequestedBy: r.stop_requested_by,
      command: r.command,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  /** The ledger rows changed after `since` (by the database's clock), oldest change first; with no `since`, the last change only. */
  async changedSince(since: Date | null, limit = 200): Promise<LedgerRecord[]> {
    const { rows } = await this.pool.query(
      since === null
        ? 'SELECT command_id FROM shardcast_exec.ledger ORDER BY updated_at DESC LIMIT 1'
        : "SELECT command_id FROM shardcast_exec.ledger WHERE date_trunc('milliseconds', updated_at) > $1 ORDER BY updated_at LIMIT $2",
      since === null ? [] : [since, limit],
    );
    const out: LedgerRecord[] = [];
    for (const r of rows) out.push(...(await this.entries({ commandId: r.command_id, limit: 1 })));
    return out;
  }

  /** Commands waiting for approval, oldest first. */
  async pendingApprovals(): Promise<{ commandId: string; action: string; createdAt: Date; command: unknown }[]> {
    const { rows } = await this.pool.query(
      `SELECT command_id, action, created_at, command FROM shardcast_exec.ledger WHERE approval = 'pending' AND status = 'ACCEPTED' ORDER BY created_at`,
    );
    return rows.map((r) => ({ commandId: r.command_id, action: r.action, createdAt: r.created_at, command: r.command }));
  }

  /** Decided commands the executor has not acted on yet (approved: run; denied: reject). */
  async decidedApprovals(): Promise<{ commandId: string; approval: Approval; by: string | null; command: unknown }[]> {
    const { rows } = await this.pool.query(
      `SELECT command_id, approval, approved_by, command FROM shardcast_exec.ledger
       WHERE approval IN ('approved', 'denied') AND status = 'ACCEPTED' AND attempts = 0 ORDER BY approved_at`,
    );
    return rows.map((r) => ({ commandId: r.command_id, approval: r.approval, by: r.approved_by, command: r.command }));
  }

  /**
   * Takes an approved command for running; false when it is not approved and untaken (another
   * executor instance took it first, or it was never approved).
   */
  async takeApproved(commandId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE shardcast_exec.ledger SET attempts = attempts + 1, updated_at = now()
       WHERE command_id = $1 AND approval = 'approved' AND status = 'ACCEPTED' AND attempts = 0`,
      [commandId],
    );
    return rowCount === 1;
  }

  /** Rejects a denied command not acted on yet; false when another executor instance did it first. */
  async rejectDenied(commandId: string, reason: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE shardcast_exec.ledger SET status = 'REJECTED', state = $2::jsonb, attempts = attempts + 1, updated_at = now()
       WHERE command_id = $1 AND approval = 'denied' AND status = 'ACCEPTED' AND attempts = 0`,
      [commandId, JSON.stringify({ reason })],
    );
    return rowCount === 1;
  }

  /**
   * Claims a command for execution. Returns the existing entry when the id was seen before
   * (the caller then skips a terminal one, or resumes a RUNNING one), else null after inserting.
   */
  async claim(commandId: string, action: string, command?: unknown): Promise<LedgerEntry | null> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO shardcast_exec.ledger (command_id, action, status, attempts, command) VALUES ($1, $2, 'ACCEPTED', 1, $3)
       ON CONFLICT (command_id) DO NOTHING`,
      [commandId, action, command === undefined ? null : JSON.stringify(command)],
    );
    if (rowCount === 1) return null;
    await this.pool.query('UPDATE shardcast_exec.ledger SET attempts = attempts + 1, updated_at = now() WHERE command_id = $1', [
      commandId,
    ]);
    return this.get(commandId);
  }

  async setStatus(commandId: string, status: CommandStatus, state?: Record<string, string>): Promise<void> {
    await this.pool.query(
      `UPDATE shardcast_exec.ledger SET status = $2, state = COALESCE($3::jsonb, state), updated_at = now() WHERE command_id = $1`,
      [commandId, status, state ? JSON.stringify(state) : null],
    );
  }

  /**
   * An operator asks the executor to stop a command it is carrying out (it rolls back at its next
   * safe point). Returns false when the id is not in flight (unknown, finished, or waiting for approval).
   */
  async requestStop(commandId: string, by: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE shardcast_exec.ledger SET stop_requested_by = $2, stop_requested_at = now(), updated_at = now()
       WHERE command_id = $1 AND status IN ('ACCEPTED', 'RUNNING') AND attempts > 0`,
      [commandId, by],
    );
    return rowCount === 1;
  }

  /** Commands in flight that an operator asked to stop, with who asked. */
  async stopRequests(): Promise<{ commandId: string; by: string }[]> {
    const { rows } = await this.pool.query(
      `SELECT command_id, stop_requested_by FROM shardcast_exec.ledger
       WHERE stop_requested_at IS NOT NULL AND status IN ('ACCEPTED', 'RUNNING')`,
    );
    return rows.map((r) => ({ commandId: r.command_id, by: r.stop_requested_by }));
  }

  /**
   * Commands taken and not finished (RUNNING or ACCEPTED), with the command as it arrived: all of
   * them, or those of `store`, or those unchanged for `idleMs`. An executor holding the store's
   * lock knows those are orphans (or parked by an executor backing off from a store that did not answer).
   */
  async unfinished(store?: string, idleMs?: number): Promise<(LedgerEntry & { command: unknown })[]> {
    const { rows } = await this.pool.query(
      `SELECT command_id, status, state, attempts, approval, command FROM shardcast_exec.ledger
       WHERE status IN ('ACCEPTED','RUNNING') AND command IS NOT NULL AND (approval IS NULL OR (approval = 'approved' AND attempts > 0))
         AND ($1::text IS NULL OR command->>'store' = $1)
         AND ($2::float8 IS NULL OR updated_at < now() - make_interval(secs => $2::float8 / 1000))
       ORDER BY created_at`,
      [store ?? null, idleMs ?? null],
    );
    return rows.map((r) => ({
      commandId: r.command_id,
      status: r.status,
      state: r.state,
      attempts: r.attempts,
      approval: r.approval,
      command: r.command,
    }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
