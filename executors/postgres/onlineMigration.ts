/**
 * The online copy state machine every data-moving PostgreSQL action shares (split, merge and
 * move in migrate.ts, rekey in rekey.ts): prepare → copy (checkpointed batches) → catch-up
 * (replay captured writes) → switch (sources locked, last replay, verify, fence, route) →
 * cleanup; a failure before the routing commit rolls back, a restarted run resumes from the
 * checkpoint. A subclass says what its sources and targets are and how rows and routes change;
 * this class runs the phases in order, checkpoints, retries the locked switch and reports.
 */
import { isRetriable, UnavailableError } from '../../lib/errors.js';
import type pg from 'pg';
import { switchRoutingIn } from '../../stores/postgres/routing.js';
import { q, sleep, type Queryable } from '../../stores/postgres/nodes.js';
import type { ExecutionContext, Outcome } from '../types.js';
import {
  Aborted,
  decode,
  encode,
  initialState,
  type AnyMigrationPlan,
  type MigrationEnv,
  type MigrationState,
  VerifyError,
} from './migrationPlan.js';

/** The locked side of a switch: one client per source (locked) and per target table. */
export interface SwitchSides {
  sources: pg.PoolClient[];
  targets: pg.PoolClient[];
}

export abstract class OnlineMigration<P extends AnyMigrationPlan> {
  protected st: MigrationState = initialState();
  private rowsAtStart = 0;

  constructor(
    protected readonly env: MigrationEnv,
    protected readonly plan: P,
    protected readonly ctx: ExecutionContext,
  ) {}

  /** Connects to the nodes the plan names. */
  protected abstract open(): Promise<void>;
  /** Claims the shards, creates the targets, installs change capture; sets st.total. */
  protected abstract prepare(): Promise<void>;
  /** Reads what copy and replay need (the table structure), on a fresh or resumed run. */
  protected abstract load(): Promise<void>;
  /** Whether a crashed run's targets and capture are still in place to continue from. */
  protected abstract resumable(): Promise<boolean>;
  protected abstract copy(): Promise<void>;
  /** Replays up to `limit` captured writes per source (on `sides` when under the switch lock); returns how many it consumed. */
  protected abstract replay(limit: number, sides?: SwitchSides): Promise<number>;
  /** Pools of the source tables (locked at the switch, in this order) and of the target tables. */
  protected abstract switchPools(): { sources: { pool: pg.Pool; rel: string }[]; targets: pg.Pool[] };
  /** Count and checksum of what moves, on both sides; throws VerifyError on a mismatch. */
  protected abstract verify(sides: SwitchSides): Promise<void>;
  /** Sources stop taking client writes for what moved; targets take them (guard state). */
  protected abstract fenceAndActivate(sides: SwitchSides): Promise<void>;
  /** The routing change, inside the version-bumping transaction. */
  protected abstract routeChange(c: pg.PoolClient, version: number): Promise<void>;
  /** Whether the routing map already shows the plan's change (its switch committed). */
  protected abstract routingSwitched(): Promise<boolean>;
  protected abstract cleanup(): Promise<void>;
  /** Undoes a run that did not switch (idempotent); returns a note on what could not be cleaned up. */
  abstract rollback(): Promise<string | null>;
  /** The shard tables whose designs (precomputations) are re-created after the switch. */
  protected abstract switchedTables(): { node: string; physical: string }[];
  protected abstract details(): Record<string, string>;

  async run(resume: Record<string, string> | null, onResume: 'finish' | 'rollback' = 'finish'): Promise<Outcome> {
    const p = this.plan;
    await this.open();
    const resumed = resume !== null;
    if (resume) this.st = decode(resume);
    const started = Date.now();
    this.rowsAtStart = this.st.rowsCopied;
    try {
      if (resumed && this.st.phase !== 'switching' && this.st.phase !== 'switched' && this.st.phase !== 'done') {
        if (onResume === 'rollback' || this.st.phase === 'prepare' || !(await this.resumable())) {
          await this.rollback();
          if (onResume === 'rollback') {
            return this.outcome('ROLLED_BACK', 'rolled back a migration left unfinished by a crashed run', started, resumed);
          }
          this.st = initialState();
          this.rowsAtStart = 0;
        }
      }
      if (this.st.phase === 'prepare') {
        await this.prepare();
        this.st.phase = 'copy';
        await this.save();
      }
      await this.load();
      if (this.st.phase === 'copy') {
        await this.copy();
        this.st.phase = 'catchup';
        await this.save();
      }
      if (this.st.phase === 'catchup') {
        await this.catchup();
        await this.switchOver();
      } else if (this.st.phase === 'switching') {
        // Crashed around the switch: the routing commit is the last step; redo the switch
        // (idempotent) unless it committed.
        if (await this.routingSwitched()) {
          this.st.phase = 'switched';
          await this.save();
        } else await this.switchOver();
      }
      if (this.st.phase === 'switched') {
        await this.cleanup();
        await this.env.afterSwitch?.(p.table, this.switchedTables()).catch(() => {});
        await q(this.env.coord, 'UPDATE shardcast_route.ranges SET owner = NULL WHERE table_name = $1 AND owner = $2', [
          p.table,
          p.commandId,
        ]);
        this.st.phase = 'done';
        await this.save();
      }
      return this.outcome('SUCCEEDED', undefined, started, resumed);
    } catch (err) {
      const before =
        this.st.phase !== 'switched' &&
        this.st.phase !== 'done' &&
        !(this.st.phase === 'switching' && (await this.routingSwitched().catch(() => true)));
      if (before) {
        let note: string | null;
        try {
          note = await this.rollback();
        } catch (rb) {
          // a node down for the rollback too: the command stays RUNNING and a retry resumes or rolls back from the checkpoint
          if (isRetriable(rb))
            throw new UnavailableError(`${(err as Error).message}; rollback deferred: ${(rb as Error).message}`, { cause: rb });
          return this.outcome('FAILED', `${(err as Error).message}; rollback failed: ${(rb as Error).message}`, started, resumed);
        }
        const why = err instanceof VerifyError ? `verification failed: ${err.message}` : (err as Error).message;
        return this.outcome('ROLLED_BACK', note ? `${why}; ${note}` : why, started, resumed);
      }
      // switched: only the cleanup is left, and it is idempotent; a node that does not answer
      // keeps the command RUNNING and the retry finishes it from the checkpoint
      if (isRetriable(err))
        throw new UnavailableError(`after the routing switch: ${(err as Error).message}; cleanup deferred`, { cause: err });
      return this.outcome('FAILED', `after the routing switch: ${(err as Error).message} (a resumed run finishes it)`, started, resumed);
    }
  }

  private outcome(status: Outcome['status'], reason: string | undefined, started: number, resumed: boolean): Outcome {
    const ms = Date.now() - started;
    return {
      status,
      ...(reason ? { reason } : {}),
      rowsCopied: this.st.rowsCopied,
      bytesMoved: this.st.bytes,
      verified: status === 'SUCCEEDED' ? true : status === 'ROLLED_BACK' ? null : false,
      details: {
        kind: this.plan.kind,
        ...this.details(),
        batches: String(this.st.batches),
        replayedChanges: String(this.st.replayed),
        switchPauseMs: String(this.st.switchPauseMs),
        durationMs: String(ms),
        rowsPerSec: ms > 0 ? String(Math.round(((this.st.rowsCopied - this.rowsAtStart) * 1000) / ms)) : '0',
        resumed: String(resumed),
      },
    };
  }

  protected async save(): Promise<void> {
    await this.ctx.checkpoint(encode(this.plan, this.st));
  }

  protected checkAbort(): void {
    if (this.ctx.signal.aborted) throw new Aborted();
  }

  /**
   * Copies rows of `rel` on `src` in key order (`k` quoted, > the saved cursor; `where` filters
   * with parameters from $1, the cursor and limit follow), one batch of JSON rows at a time,
   * handed to `write`; throttled, checkpointed and reported after each batch.
   */
  protected async copyFrom(
    src: Queryable,
    rel: string,
    k: string,
    filter: { where: string; params: unknown[] },
    write: (rowsJson: string) => Promise<void>,
  ): Promise<void> {
    const p = this.plan;
    const n0 = filter.params.length;
    for (;;) {
      this.checkAbort();
      const rows = await q<{ n: number; last: string | null; rows: string }>(
        src,
        `SELECT count(*)::int AS n, max(${k})::text AS last, coalesce(json_agg(t), '[]')::text AS rows
         FROM (SELECT * FROM ${rel} WHERE ${filter.where} AND ($${n0 + 1}::bigint IS NULL OR ${k} > $${n0 + 1}::bigint)
               ORDER BY ${k} LIMIT $${n0 + 2}) t`,
        [...filter.params, this.st.cursor, p.batchRows],
      );
      const b = rows[0]!;
      if (b.n === 0) break;
      const bytes = Buffer.byteLength(b.rows);
      await this.ctx.throttle(bytes);
      this.checkAbort();
      await write(b.rows);
      this.st.cursor = b.last;
      this.st.rowsCopied += b.n;
      this.st.bytes += bytes;
      this.st.batches += 1;
      await this.save();
      await this.ctx.report({
        status: 'RUNNING',
        progress: this.st.total > 0 ? Math.min(0.95, (0.9 * this.st.rowsCopied) / this.st.total) : 0.5,
        rowsCopied: this.st.rowsCopied,
        bytesMoved: this.st.bytes,
        details: { phase: 'copy', cursor: b.last ?? '' },
      });
      await this.env.afterBatch?.(this.st.batches, p);
      if (b.n < p.batchRows) break;
    }
  }

  /**
   * Takes up to `limit` captured writes of `physical` from `srcDb`'s change log, re-reads the
   * current rows of the keys `keep` accepts (by the captured column `k` of `rel`) and hands
   * them to `apply`, then deletes the log entries it consumed (consume-and-delete, so a write
   * that commits late is still seen). Returns how many log entries it consumed.
   */
  protected async replayFrom(
    srcDb: Queryable,
    physical: string,
    rel: string,
    k: string,
    limit: number,
    keep: (key: string) => boolean,
    apply: (keys: string[], rowsJson: string) => Promise<void>,
  ): Promise<number> {
    const log = await q<{ seq: string; key: string }>(
      srcDb,
      'SELECT seq, key::text AS key FROM shardcast_local.changes WHERE physical = $1 ORDER BY seq LIMIT $2',
      [physical, limit],
    );
    if (log.length === 0) return 0;
    const keys = [...new Set(log.map((r) => r.key).filter(keep))];
    if (keys.length > 0) {
      const cur = await q<{ rows: string }>(
        srcDb,
        `SELECT coalesce(json_agg(t), '[]')::text AS rows FROM ${rel} t WHERE ${k} = ANY($1::bigint[])`,
        [keys],
      );
      await apply(keys, cur[0]!.rows);
      this.st.bytes += Buffer.byteLength(cur[0]!.rows);
    }
    await q(srcDb, 'DELETE FROM shardcast_local.changes WHERE seq = ANY($1::bigint[])', [log.map((r) => r.seq)]);
    this.st.replayed += keys.length;
    return log.length;
  }

  private async catchup(): Promise<void> {
    // Replay until the backlog is small, so the locked final replay is short.
    for (let round = 0; round < 50; round++) {
      this.checkAbort();
      const n = await this.replay(2000);
      if (n < 200) break;
    }
  }

  private async switchOver(): Promise<void> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      this.checkAbort();
      try {
        await this.switchOnce();
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '55P03') throw err; // lock_timeout: writers hold long transactions
        lastErr = err;
        await this.replay(5000);
        await sleep(100 * (attempt + 1));
      }
    }
    throw lastErr;
  }

  /**
   * Locks every source (writes wait, reads go on), replays the rest, verifies, then commits:
   * targets active (unrouted, harmless) → sources fenced (writers that reach them now get SCR01
   * and retry) → routing (the switch). A crash between the last two leaves writes failing until
   * a resumed run commits the routing, never writes on both sides.
   */
  private async switchOnce(): Promise<void> {
    const pools = this.switchPools();
    const sides: SwitchSides = { sources: [], targets: [] };
    const open = new Set<pg.PoolClient>();
    let R: pg.PoolClient | null = null;
    let routingOpen = false;
    try {
      for (const s of pools.sources) {
        const c = await s.pool.connect();
        sides.sources.push(c);
        await c.query('BEGIN');
        open.add(c);
        await c.query(`SET LOCAL lock_timeout = '5s'`);
        await c.query(`LOCK TABLE ${s.rel} IN EXCLUSIVE MODE`);
      }
      const t0 = Date.now();
      for (const pool of pools.targets) {
        const c = await pool.connect();
        sides.targets.push(c);
        await c.query('BEGIN');
        open.add(c);
      }
      while ((await this.replay(10_000, sides)) > 0) {
        /* drain the log: no client write can add to it while we hold the locks */
      }
      await this.verify(sides);
      await this.fenceAndActivate(sides);
      this.st.phase = 'switching';
      await this.save();
      for (const c of [...sides.targets, ...sides.sources]) {
        await c.query('COMMIT');
        open.delete(c);
      }
      await this.env.beforeRoutingCommit?.(this.plan);
      R = await this.env.coord.connect();
      await R.query('BEGIN');
      routingOpen = true;
      await switchRoutingIn(R, this.plan.table, null, (c, v) => this.routeChange(c, v));
      await R.query('COMMIT'); // ← the switch
      routingOpen = false;
      this.st.switchPauseMs = Date.now() - t0;
      this.st.phase = 'switched';
      await this.save();
    } catch (err) {
      if (R && routingOpen) await R.query('ROLLBACK').catch(() => {});
      for (const c of [...sides.targets, ...sides.sources]) if (open.has(c)) await c.query('ROLLBACK').catch(() => {});
      if (this.st.phase === 'switching' && !(await this.routingSwitched())) this.st.phase = 'catchup';
      throw err;
    } finally {
      R?.release();
      for (const c of [...sides.targets, ...sides.sources]) c.release();
    }
  }
}
