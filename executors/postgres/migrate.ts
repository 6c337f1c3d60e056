/**
 * The online range migration behind split, merge and move: rows of a key range [lo, hi) of a
 * source shard table go to a target table (new or existing, same or other node) while clients
 * keep reading and writing.
 *
 *   prepare   mark the shard(s) 'migrating' in the routing map (owner = command id), create the
 *             target (guarded, local state 'pending'), install the change-capture trigger on the
 *             source (every client write logs its key in shardcast_local.changes)
 *   copy      batches in key order: source rows as JSON → upsert into target; throttled;
 *             checkpointed (cursor = last key copied) after each batch
 *   catchup   replay logged keys: re-read the current rows at the source, replace them at the
 *             target, delete the processed log entries (consume-and-delete, so a write that
 *             commits late is still seen)
 *   switch    LOCK source IN EXCLUSIVE MODE (writes wait, reads go on), replay the rest, verify
 *             count + checksum of the range on both sides, then commit: target active → routing
 *             (one transaction, version bump) → source fenced (guard narrows or retires it)
 *   cleanup   drop the capture trigger; split: delete moved rows from the source in batches;
 *             move/merge: keep the retired source for the grace period, then drop it
 *
 * A failure before the routing commit rolls back (target dropped or its new rows deleted,
 * routing untouched). A restarted run resumes from the checkpoint: it continues the copy, or
 * finishes a switch whose routing already committed; `onResume: 'rollback'` rolls back instead.
 *
 * This file is the state machine (the phases in order, sharing the pools and checkpoint); the
 * plan and checkpoint codec are in migrationPlan.ts, each kind's switch changes in
 * migrationSwitch.ts, cleanup and rollback in migrationCleanup.ts.
 */
import { isRetriable, StateError, UnavailableError } from '../../lib/errors.js';
import type pg from 'pg';
import { quoteIdent } from '../../stores/identifiers.js';
import type { ExecutionContext, Outcome } from '../types.js';
import { describeTable, insertableColumns, rangeChecksum, renderCreate, tableExists, type TableDesc } from './ddl.js';
import { ensureNodeSupport, registerLocalShard } from '../../stores/postgres/setup.js';
import { inRange } from '../../stores/postgres/keys.js';
import { switchRoutingIn } from '../../stores/postgres/routing.js';
import { inTx, q, sleep, type Queryable } from '../../stores/postgres/nodes.js';
import {
  Aborted,
  decode,
  encode,
  type MigrationEnv,
  type MigrationPlan,
  type MigrationState,
  initialState,
  rangeWhere,
  VerifyError,
} from './migrationPlan.js';
import { cleanupSource, rollbackMigration } from './migrationCleanup.js';
import { activateTarget, fenceSource, routeChange, routingSwitched } from './migrationSwitch.js';

export class RangeMigration {
  private st: MigrationState = initialState();
  private src!: pg.Pool;
  private tgt!: pg.Pool;
  private desc!: TableDesc;
  private rowsAtStart = 0;
  private readonly k: string;
  private readonly S: string;
  private readonly T: string;

  constructor(
    private readonly env: MigrationEnv,
    private readonly plan: MigrationPlan,
    private readonly ctx: ExecutionContext,
  ) {
    this.k = quoteIdent(plan.keyColumn);
    this.S = `public.${quoteIdent(plan.sourcePhysical)}`;
    this.T = `public.${quoteIdent(plan.targetPhysical)}`;
  }

  async run(resume: Record<string, string> | null, onResume: 'finish' | 'rollback' = 'finish'): Promise<Outcome> {
    const p = this.plan;
    this.src = this.env.pools.get(await this.env.urlOf(p.sourceNode));
    this.tgt = this.env.pools.get(await this.env.urlOf(p.targetNode));
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
      this.desc = await describeTable(this.tgt, p.targetPhysical).catch(() => describeTable(this.src, p.sourcePhysical));
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
        if (await routingSwitched(this.env.coord, this.plan)) {
          this.st.phase = 'switched';
          await this.save();
        } else await this.switchOver();
      }
      if (this.st.phase === 'switched') {
        await this.cleanup();
        await this.env.afterSwitch?.(p).catch(() => {});
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
        !(this.st.phase === 'switching' && (await routingSwitched(this.env.coord, this.plan).catch(() => true)));
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
        shard: this.plan.sourceShard,
        target: `${this.plan.targetNode}/${this.plan.targetShard}`,
        batches: String(this.st.batches),
        replayedChanges: String(this.st.replayed),
        switchPauseMs: String(this.st.switchPauseMs),
        durationMs: String(ms),
        rowsPerSec: ms > 0 ? String(Math.round(((this.st.rowsCopied - this.rowsAtStart) * 1000) / ms)) : '0',
        resumed: String(resumed),
      },
    };
  }

  private async save(): Promise<void> {
    await this.ctx.checkpoint(encode(this.plan, this.st));
  }

  private checkAbort(): void {
    if (this.ctx.signal.aborted) throw new Aborted();
  }

  private rangeParams(): [string | null, string | null] {
    return [this.plan.lo, this.plan.hi];
  }

  private rangeWhere(first: number): string {
    return rangeWhere(this.k, first);
  }

  // ---- prepare ------------------------------------------------------------------------------

  private async prepare(): Promise<void> {
    const p = this.plan;
    // Claim the shard(s) in the routing map; a concurrent command on them sees state 'migrating'.
    const shards = p.kind === 'merge' ? [p.sourceShard, p.targetShard] : [p.sourceShard];
    await inTx(this.env.coord, async (c) => {
      const rows = await q<{ shard: string; state: string; owner: string | null }>(
        c,
        'SELECT shard, state, owner FROM shardcast_route.ranges WHERE table_name = $1 AND shard = ANY($2) FOR UPDATE',
        [p.table, shards],
      );
      if (rows.length !== shards.length) throw new StateError('a shard of the plan is gone from the routing map');
      for (const r of rows) {
        if (r.owner !== null && r.owner !== p.commandId) throw new StateError(`shard ${r.shard} is busy (${r.state}, ${r.owner})`);
        if (r.state !== 'active' && r.owner !== p.commandId) throw new StateError(`shard ${r.shard} is ${r.state}`);
      }
      await c.query(`UPDATE shardcast_route.ranges SET state = 'migrating', owner = $3 WHERE table_name = $1 AND shard = ANY($2)`, [
        p.table,
        shards,
        p.commandId,
      ]);
    });
    await ensureNodeSupport(this.tgt);
    await ensureNodeSupport(this.src);
    const srcDesc = await describeTable(this.src, p.sourcePhysical);
    if (p.createTarget) {
      if (await tableExists(this.tgt, p.targetPhysical)) {
        const local = await q<{ state: string }>(this.tgt, 'SELECT state FROM shardcast_local.shards WHERE physical = $1', [
          p.targetPhysical,
        ]);
        if (local[0] && local[0].state !== 'pending')
          throw new StateError(`target table ${p.targetPhysical} exists on ${p.targetNode} and is ${local[0].state}`);
        await q(this.tgt, `DROP TABLE ${this.T} CASCADE`); // a leftover of an earlier, rolled-back attempt
      }
      await inTx(this.tgt, async (c) => {
        for (const stmt of renderCreate(srcDesc, p.sourcePhysical, p.targetPhysical)) await c.query(stmt);
        await registerLocalShard(c, {
          physical: p.targetPhysical,
          table: p.table,
          shard: p.targetShard,
          keyColumn: p.keyColumn,
          lo: p.lo,
          hi: p.hi,
          state: 'pending',
        });
      });
    }
    await q(this.src, 'DELETE FROM shardcast_local.changes WHERE physical = $1', [p.sourcePhysical]);
    await q(this.src, `DROP TRIGGER IF EXISTS shardcast_capture ON ${this.S}`);
    await q(
      this.src,
      `CREATE TRIGGER shardcast_capture AFTER INSERT OR UPDATE OR DELETE ON ${this.S} FOR EACH ROW EXECUTE FUNCTION shardcast_local.capture(${`'${p.keyColumn}'`})`,
    );
    const n = await q<{ n: string }>(this.src, `SELECT count(*) AS n FROM ${this.S} WHERE ${this.rangeWhere(1)}`, this.rangeParams());
    this.st.total = Number(n[0]!.n);
  }

  /** A crashed run can continue when its target and capture trigger are still in place. */
  private async resumable(): Promise<boolean> {
    const p = this.plan;
    if (!(await tableExists(this.tgt, p.targetPhysical)) || !(await tableExists(this.src, p.sourcePhysical))) return false;
    const trig = await q(this.src, `SELECT 1 FROM pg_trigger WHERE tgname = 'shardcast_capture' AND tgrelid = $1::regclass`, [this.S]);
    const owner = await q<{ owner: string | null }>(
      this.env.coord,
      'SELECT owner FROM shardcast_route.ranges WHERE table_name = $1 AND shard = $2',
      [p.table, p.sourceShard],
    );
    return trig.length > 0 && owner[0]?.owner === p.commandId;
  }

  // ---- copy ---------------------------------------------------------------------------------

  private upsertSql(): string {
    const cols = insertableColumns(this.desc);
    const list = cols.map(quoteIdent).join(', ');
    const set = cols.filter((c) => c !== this.plan.keyColumn).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
    return `INSERT INTO ${this.T} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${this.T}, $1::json)
            ON CONFLICT (${this.k}) DO ${set.length ? `UPDATE SET ${set.join(', ')}` : 'NOTHING'}`;
  }

  private async copy(): Promise<void> {
    const p = this.plan;
    const upsert = this.upsertSql();
    for (;;) {
      this.checkAbort();
      const rows = await q<{ n: number; last: string | null; rows: string }>(
        this.src,
        `SELECT count(*)::int AS n, max(${this.k})::text AS last, coalesce(json_agg(t), '[]')::text AS rows
         FROM (SELECT * FROM ${this.S} WHERE ${this.rangeWhere(1)} AND ($3::bigint IS NULL OR ${this.k} > $3::bigint)
               ORDER BY ${this.k} LIMIT $4) t`,
        [...this.rangeParams(), this.st.cursor, p.batchRows],
      );
      const b = rows[0]!;
      if (b.n === 0) break;
      const bytes = Buffer.byteLength(b.rows);
      await this.ctx.throttle(bytes);
      this.checkAbort();
      await q(this.tgt, upsert, [b.rows]);
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

  // ---- catch-up -----------------------------------------------------------------------------

  /** Replays up to `limit` logged changes; returns how many log entries it consumed. */
  private async replayOnce(srcDb: Queryable, tgtDb: Queryable | null, limit: number): Promise<number> {
    const p = this.plan;
    const log = await q<{ seq: string; key: string }>(
      srcDb,
      'SELECT seq, key::text AS key FROM shardcast_local.changes WHERE physical = $1 ORDER BY seq LIMIT $2',
      [p.sourcePhysical, limit],
    );
    if (log.length === 0) return 0;
    const keys = [...new Set(log.map((r) => r.key).filter((k) => inRange(k, p.lo, p.hi)))];
    if (keys.length > 0) {
      const cur = await q<{ rows: string }>(
        srcDb,
        `SELECT coalesce(json_agg(t), '[]')::text AS rows FROM ${this.S} t WHERE ${this.k} = ANY($1::bigint[])`,
        [keys],
      );
      const apply = async (c: Queryable) => {
        await q(c, `DELETE FROM ${this.T} WHERE ${this.k} = ANY($1::bigint[])`, [keys]);
        await q(c, this.upsertSql(), [cur[0]!.rows]);
      };
      if (tgtDb) await apply(tgtDb);
      else await inTx(this.tgt, apply);
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
      const n = await this.replayOnce(this.src, null, 2000);
      if (n < 200) break;
    }
  }

  // ---- switch -------------------------------------------------------------------------------

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
        await this.replayOnce(this.src, null, 5000);
        await sleep(100 * (attempt + 1));
      }
    }
    throw lastErr;
  }

  private async switchOnce(): Promise<void> {
    const p = this.plan;
    const S = await this.src.connect();
    const T = await this.tgt.connect();
    const R = await this.env.coord.connect();
    const open = { S: false, T: false, R: false };
    try {
      await S.query('BEGIN');
      open.S = true;
      await S.query(`SET LOCAL lock_timeout = '5s'`);
      await S.query(`LOCK TABLE ${this.S} IN EXCLUSIVE MODE`);
      const t0 = Date.now();
      await T.query('BEGIN');
      open.T = true;
      while ((await this.replayOnce(S, T, 10_000)) > 0) {
        /* drain the log: no client write can add to it while we hold the lock */
      }
      const a = await rangeChecksum(S, p.sourcePhysical, p.keyColumn, p.lo, p.hi);
      const b = await rangeChecksum(T, p.targetPhysical, p.keyColumn, p.lo, p.hi);
      if (a.count !== b.count || a.checksum !== b.checksum) {
        throw new VerifyError(`source ${a.count} rows / ${a.checksum}, target ${b.count} rows / ${b.checksum}`);
      }
      await fenceSource(S, p);
      await activateTarget(T, p);
      this.st.phase = 'switching';
      await this.save();
      // Commit order: target active (unrouted, harmless) → source fenced (writers that reach it
      // now get SCR01 and retry) → routing (the switch). A crash between the last two leaves
      // writes failing until a resumed run commits the routing, never writes on both sides.
      await T.query('COMMIT');
      open.T = false;
      await S.query('COMMIT');
      open.S = false;
      await this.env.beforeRoutingCommit?.(p);
      await R.query('BEGIN');
      open.R = true;
      await switchRoutingIn(R, p.table, null, (c, v) => routeChange(c, p, v));
      await R.query('COMMIT'); // ← the switch
      open.R = false;
      this.st.switchPauseMs = Date.now() - t0;
      this.st.phase = 'switched';
      await this.save();
    } catch (err) {
      for (const [k, c] of [
        ['R', R],
        ['T', T],
        ['S', S],
      ] as const)
        if (open[k]) await c.query('ROLLBACK').catch(() => {});
      if (this.st.phase === 'switching' && !(await routingSwitched(this.env.coord, this.plan))) this.st.phase = 'catchup';
      throw err;
    } finally {
      S.release();
      T.release();
      R.release();
    }
  }

  // ---- cleanup and rollback -----------------------------------------------------------------

  private async cleanup(): Promise<void> {
    await cleanupSource(this.src, this.plan);
  }

  /** Undoes a migration that did not switch (idempotent); returns a note on what could not be cleaned up. */
  async rollback(): Promise<string | null> {
    return rollbackMigration({ src: this.src, tgt: this.tgt, coord: this.env.coord }, this.plan);
  }
}
