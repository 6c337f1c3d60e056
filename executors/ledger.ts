/**
 * The executor's durable record of commands: which ids it has seen, their status, and the
 * progress state an adapter checkpointed. Kept in PostgreSQL (node 0 by default) so that a
 * redelivered command is not run twice and a restarted executor can resume or roll back what
 * it had in flight.
 */
import pg from 'pg';
import type { CommandStatus } from '../schemas/types.js';

export interface LedgerEntry {
  commandId: string;
  status: CommandStatus;
  state: Record<string, string>;
  attempts: number;
}

const TERMINAL: ReadonlySet<CommandStatus> = new Set(['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED']);
export const isTerminal = (s: CommandStatus) => TERMINAL.has(s);

export class CommandLedger {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(connectionString: string): Promise<CommandLedger> {
    const pool = new pg.Pool({ connectionString, max: 2 });
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
    return new CommandLedger(pool);
  }

  async get(commandId: string): Promise<LedgerEntry | null> {
    const { rows } = await this.pool.query(
      'SELECT command_id, status, state, attempts FROM shardcast_exec.ledger WHERE command_id = $1',
      [commandId],
    );
    const r = rows[0];
    return r ? { commandId: r.command_id, status: r.status, state: r.state, attempts: r.attempts } : null;
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
    await this.pool.query('UPDATE shardcast_exec.ledger SET attempts = attempts + 1, updated_at = now() WHERE command_id = $1', [commandId]);
    return this.get(commandId);
  }

  async setStatus(commandId: string, status: CommandStatus, state?: Record<string, string>): Promise<void> {
    await this.pool.query(
      `UPDATE shardcast_exec.ledger SET status = $2, state = COALESCE($3::jsonb, state), updated_at = now() WHERE command_id = $1`,
      [commandId, status, state ? JSON.stringify(state) : null],
    );
  }

  /** Commands a crashed executor left RUNNING or ACCEPTED, with the command as it arrived. */
  async unfinished(): Promise<(LedgerEntry & { command: unknown })[]> {
    const { rows } = await this.pool.query(
      `SELECT command_id, status, state, attempts, command FROM shardcast_exec.ledger
       WHERE status IN ('ACCEPTED','RUNNING') AND command IS NOT NULL ORDER BY created_at`,
    );
    return rows.map((r) => ({ commandId: r.command_id, status: r.status, state: r.state, attempts: r.attempts, command: r.command }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
