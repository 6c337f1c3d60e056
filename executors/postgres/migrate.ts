/**
 * The online range migration behind split, merge and move: rows of a key range [lo, hi) of a
 * source shard table go to a target table (new or existing, same or other node) while clients
 * keep reading and writing.
 *
 * Rows are copied, captured and upserted by their identity, the primary key: the key itself,
 * unless a rekey made another column the key (then the range is of the key, rows of the id).
 * A hash-keyed table's ranges are of the key's hash (schemas/keyHash.ts): the range
 * filters, the replay's range check and the verification hash the key; the target's guard does.
 *
 *   prepare   mark the shard(s) 'migrating' in the routing map (owner = command id), create the
 *             target (guarded, local state 'pending'), install the change-capture trigger on the
 *             source (every client write logs its row's identity in shardcast_local.changes)
 *   copy      batches in identity order: source rows as JSON → upsert into target; throttled;
 *             checkpointed (cursor = last identity copied) after each batch
 *   catchup   replay logged rows: re-read the current rows at the source, replace them at the
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
 * The phases run in the state machine shared with rekey (onlineMigration.ts); this file says
 * what a range migration copies, replays and verifies. The plan and checkpoint codec are in
 * migrationPlan.ts, each kind's switch changes in migrationSwitch.ts, cleanup and rollback in
 * migrationCleanup.ts.
 */
import { StateError } from '../../lib/errors.js';
import type pg from 'pg';
import { quoteIdent } from '../../stores/identifiers.js';
import { describeTable, rangeChecksum, renderCreate, tableExists, type TableDesc, upsertSql } from './ddl.js';
import { ensureNodeSupport, registerLocalShard } from '../../stores/postgres/setup.js';
import { routedValue } from '../../schemas/keyHash.js';
import { keySql } from '../../stores/postgres/keySql.js';
import { inRange } from '../../stores/postgres/keys.js';
import { inTx, q, type Queryable } from '../../stores/postgres/nodes.js';
import { type MigrationPlan, rangeWhere, VerifyError } from './migrationPlan.js';
import { cleanupSource, installCapture, rollbackMigration } from './migrationCleanup.js';
import { activateTarget, fenceSource, routeChange, routingSwitched } from './migrationSwitch.js';
import { OnlineMigration, type SwitchSides } from './onlineMigration.js';

export class RangeMigration extends OnlineMigration<MigrationPlan> {
  private src!: pg.Pool;
  private tgt!: pg.Pool;
  private desc!: TableDesc;
  /** What the ranges cut: the key column, or its hash. */
  private readonly hashed = this.plan.keyHash ?? false;
  private readonly k = keySql(this.plan.keyColumn, this.hashed);
  /** The row identity: copy cursor, capture and upserts (the key unless a rekey changed it). */
  private readonly rowKey = this.plan.rowKey ?? this.plan.keyColumn;
  private readonly id = quoteIdent(this.rowKey);
  private readonly S = `public.${quoteIdent(this.plan.sourcePhysical)}`;
  private readonly T = `public.${quoteIdent(this.plan.targetPhysical)}`;

  protected async open(): Promise<void> {
    this.src = this.env.pools.get(await this.env.urlOf(this.plan.sourceNode));
    this.tgt = this.env.pools.get(await this.env.urlOf(this.plan.targetNode));
  }

  protected async load(): Promise<void> {
    const p = this.plan;
    this.desc = await describeTable(this.tgt, p.targetPhysical).catch(() => describeTable(this.src, p.sourcePhysical));
  }

  private rangeParams(): [string | null, string | null] {
    return [this.plan.lo, this.plan.hi];
  }

  protected details(): Record<string, string> {
    return { shard: this.plan.sourceShard, target: `${this.plan.targetNode}/${this.plan.targetShard}` };
  }

  // ---- prepare ------------------------------------------------------------------------------

  protected async prepare(): Promise<void> {
    const p = this.plan;
    // Claim the shard(s) in the routing map; a concurrent command on them sees state 'migrating'.
    await claimShards(this.env.coord, p.table, p.kind === 'merge' ? [p.sourceShard, p.targetShard] : [p.sourceShard], p.commandId);
    await ensureNodeSupport(this.tgt);
    await ensureNodeSupport(this.src);
    const srcDesc = await describeTable(this.src, p.sourcePhysical);
    if (p.createTarget) {
      await createTarget(this.tgt, srcDesc, p.sourcePhysical, {
        physical: p.targetPhysical,
        table: p.table,
        shard: p.targetShard,
        node: p.targetNode,
        keyColumn: p.keyColumn,
        keyHash: this.hashed,
        lo: p.lo,
        hi: p.hi,
      });
    }
    await installCapture(this.src, p.sourcePhysical, this.rowKey);
    const n = await q<{ n: string }>(this.src, `SELECT count(*) AS n FROM ${this.S} WHERE ${rangeWhere(this.k, 1)}`, this.rangeParams());
    this.st.total = Number(n[0]!.n);
  }

  /** A crashed run can continue when its target and capture trigger are still in place. */
  protected async resumable(): Promise<boolean> {
    const p = this.plan;
    if (!(await tableExists(this.tgt, p.targetPhysical))) return false;
    return captureClaimed(this.src, this.env.coord, p, [p.sourcePhysical], p.sourceShard);
  }

  // ---- copy and replay ----------------------------------------------------------------------

  protected async copy(): Promise<void> {
    const upsert = upsertSql(this.desc, this.T, this.rowKey);
    await this.copyFrom(this.src, this.S, this.id, { where: rangeWhere(this.k, 1), params: this.rangeParams() }, async (rows) => {
      await q(this.tgt, upsert, [rows]);
    });
  }

  protected async replay(limit: number, sides?: SwitchSides): Promise<number> {
    const p = this.plan;
    const byKey = this.rowKey === p.keyColumn;
    return this.replayFrom(
      sides?.sources[0] ?? this.src,
      p.sourcePhysical,
      this.S,
      this.id,
      limit,
      // Logged identities are keys only when the key is the identity; else the range filters rows below.
      (key) => !byKey || inRange(routedValue(key, this.hashed), p.lo, p.hi),
      async (ids, rows) => {
        const apply = async (c: Queryable) => {
          await q(c, `DELETE FROM ${this.T} WHERE ${this.id} = ANY($1::bigint[]) AND ${rangeWhere(this.k, 2)}`, [ids, p.lo, p.hi]);
          await q(c, upsertSql(this.desc, this.T, this.rowKey, rangeWhere(this.k, 2)), [rows, p.lo, p.hi]);
        };
        if (sides) await apply(sides.targets[0]!);
        else await inTx(this.tgt, apply);
      },
    );
  }

  // ---- switch -------------------------------------------------------------------------------

  protected switchPools(): { sources: { pool: pg.Pool; rel: string }[]; targets: pg.Pool[] } {
    return { sources: [{ pool: this.src, rel: this.S }], targets: [this.tgt] };
  }

  protected async verify(sides: SwitchSides): Promise<void> {
    const p = this.plan;
    const a = await rangeChecksum(sides.sources[0]!, p.sourcePhysical, p.keyColumn, p.lo, p.hi, this.hashed);
    const b = await rangeChecksum(sides.targets[0]!, p.targetPhysical, p.keyColumn, p.lo, p.hi, this.hashed);
    if (a.count !== b.count || a.checksum !== b.checksum) {
      throw new VerifyError(`source ${a.count} rows / ${a.checksum}, target ${b.count} rows / ${b.checksum}`);
    }
  }

  protected async fenceAndActivate(sides: SwitchSides): Promise<void> {
    await fenceSource(sides.sources[0]!, this.plan);
    await activateTarget(sides.targets[0]!, this.plan);
  }

  protected routeChange(c: pg.PoolClient, version: number): Promise<void> {
    return routeChange(c, this.plan, version);
  }

  protected routingSwitched(): Promise<boolean> {
    return routingSwitched(this.env.coord, this.plan);
  }

  // ---- cleanup and rollback -----------------------------------------------------------------

  protected async cleanup(): Promise<void> {
    await cleanupSource(this.src, this.plan);
  }

  protected switchedTables(): { node: string; physical: string }[] {
    const p = this.plan;
    const out = [{ node: p.targetNode, physical: p.targetPhysical }];
    if (p.kind === 'split') out.push({ node: p.sourceNode, physical: p.sourcePhysical });
    return out;
  }

  async rollback(): Promise<string | null> {
    return rollbackMigration({ src: this.src, tgt: this.tgt, coord: this.env.coord }, this.plan);
  }
}

/** Marks `shards` of `table` 'migrating', owned by `commandId`; throws when one is gone, busy or not active. */
export async function claimShards(coord: pg.Pool, table: string, shards: string[], commandId: string): Promise<void> {
  await inTx(coord, async (c) => {
    const rows = await q<{ shard: string; state: string; owner: string | null }>(
      c,
      'SELECT shard, state, owner FROM shardcast_route.ranges WHERE table_name = $1 AND shard = ANY($2) FOR UPDATE',
      [table, shards],
    );
    if (rows.length !== shards.length) throw new StateError('a shard of the plan is gone from the routing map');
    for (const r of rows) {
      if (r.owner !== null && r.owner !== commandId) throw new StateError(`shard ${r.shard} is busy (${r.state}, ${r.owner})`);
      if (r.state !== 'active' && r.owner !== commandId) throw new StateError(`shard ${r.shard} is ${r.state}`);
    }
    await c.query(`UPDATE shardcast_route.ranges SET state = 'migrating', owner = $3 WHERE table_name = $1 AND shard = ANY($2)`, [
      table,
      shards,
      commandId,
    ]);
  });
}

/**
 * Creates a target shard table shaped like the source (`desc`), registered 'pending' with the
 * node's guard for its key column and range; drops a leftover of an earlier, rolled-back attempt.
 */
export async function createTarget(
  tgt: pg.Pool,
  desc: TableDesc,
  sourcePhysical: string,
  t: {
    physical: string;
    table: string;
    shard: string;
    node: string;
    keyColumn: string;
    keyHash?: boolean;
    lo: string | null;
    hi: string | null;
  },
): Promise<void> {
  const T = `public.${quoteIdent(t.physical)}`;
  if (await tableExists(tgt, t.physical)) {
    const local = await q<{ state: string }>(tgt, 'SELECT state FROM shardcast_local.shards WHERE physical = $1', [t.physical]);
    if (local[0] && local[0].state !== 'pending')
      throw new StateError(`target table ${t.physical} exists on ${t.node} and is ${local[0].state}`);
    await q(tgt, `DROP TABLE ${T} CASCADE`);
  }
  await inTx(tgt, async (c) => {
    for (const stmt of renderCreate(desc, sourcePhysical, t.physical)) await c.query(stmt);
    await registerLocalShard(c, { ...t, state: 'pending' });
  });
}

/** Whether every source still has its capture trigger and `shard` is still claimed by the plan's command. */
export async function captureClaimed(
  src: Queryable | ((physical: string) => Queryable),
  coord: pg.Pool,
  p: { table: string; commandId: string },
  physicals: string[],
  shard: string,
): Promise<boolean> {
  for (const physical of physicals) {
    const db = typeof src === 'function' ? src(physical) : src;
    if (!(await tableExists(db, physical))) return false;
    const trig = await q(db, `SELECT 1 FROM pg_trigger WHERE tgname = 'shardcast_capture' AND tgrelid = $1::regclass`, [
      `public.${quoteIdent(physical)}`,
    ]);
    if (trig.length === 0) return false;
  }
  const owner = await q<{ owner: string | null }>(coord, 'SELECT owner FROM shardcast_route.ranges WHERE table_name = $1 AND shard = $2', [
    p.table,
    shard,
  ]);
  return owner[0]?.owner === p.commandId;
}
