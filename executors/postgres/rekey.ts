/**
 * Rekey: the online re-sharding of a whole table by a new key column, through the same copy +
 * change capture + verify + switch machinery as a move (onlineMigration.ts).
 *
 *   prepare   claim every shard; create the new shard tables (same structure, ranges of the new
 *             key, registered 'pending' under the new key); capture writes on every old shard
 *             by row identity (the primary key, one integer column)
 *   copy      each old shard in identity order; every batch goes to the new shards, each
 *             keeping the rows whose new key falls in its range
 *   catchup   replay captured identities: the row's current version replaces it on the new
 *             shards (deleted everywhere first, since an update may change its new key)
 *   switch    lock every old shard, replay the rest, verify count + checksum of the whole table
 *             on both sides, fence the old shards, activate the new, and in one routing
 *             transaction replace the table's ranges and its key column
 *   cleanup   drop the capture; after the grace period drop the old shards' replicas and tables
 */
import { StateError } from '../../lib/errors.js';
import type pg from 'pg';
import { quoteIdent } from '../../stores/identifiers.js';
import { shardObjectName } from '../../stores/postgres/keys.js';
import { keySql } from '../../stores/postgres/keySql.js';
import { inTx, q, type Queryable, sleep } from '../../stores/postgres/nodes.js';
import { ensureNodeSupport } from '../../stores/postgres/setup.js';
import { describeTable, rangeChecksum, tableExists, type TableDesc, upsertSql } from './ddl.js';
import { captureClaimed, claimShards, createTarget } from './migrate.js';
import { installCapture, removeCapture } from './migrationCleanup.js';
import { dropReplica } from './replication.js';
import { type RekeyPlan, type RekeyShard, rangeWhere, VerifyError } from './migrationPlan.js';
import { OnlineMigration, type SwitchSides } from './onlineMigration.js';

const rel = (s: RekeyShard) => `public.${quoteIdent(s.physical)}`;

export class RekeyMigration extends OnlineMigration<RekeyPlan> {
  private readonly pools = new Map<string, pg.Pool>();
  private desc!: TableDesc;
  /** The row identity (copy cursor, capture, upsert conflict): the primary key. */
  private readonly id = quoteIdent(this.plan.rowKey);
  /** The new ranges' values: the new key column, or its hash. */
  private readonly nk = keySql(this.plan.newKeyColumn, this.plan.keyHash ?? false);

  private pool(s: RekeyShard): pg.Pool {
    return this.pools.get(s.node)!;
  }

  protected async open(): Promise<void> {
    for (const s of [...this.plan.sources, ...this.plan.targets]) {
      if (!this.pools.has(s.node)) this.pools.set(s.node, this.env.pools.get(await this.env.urlOf(s.node)));
    }
  }

  protected async load(): Promise<void> {
    const t = this.plan.targets[0]!;
    const s = this.plan.sources[0]!;
    this.desc = await describeTable(this.pool(t), t.physical).catch(() => describeTable(this.pool(s), s.physical));
  }

  protected details(): Record<string, string> {
    const p = this.plan;
    return {
      shard: p.sources.map((s) => s.shard).join(','),
      target: p.targets.map((t) => `${t.node}/${t.shard}`).join(','),
      keyColumn: p.newKeyColumn,
      previousKey: p.keyColumn,
      keyHash: String(p.keyHash ?? false),
    };
  }

  protected async prepare(): Promise<void> {
    const p = this.plan;
    await claimShards(
      this.env.coord,
      p.table,
      p.sources.map((s) => s.shard),
      p.commandId,
    );
    for (const pool of this.pools.values()) await ensureNodeSupport(pool);
    const first = p.sources[0]!;
    const desc = await describeTable(this.pool(first), first.physical);
    for (const t of p.targets) {
      const db = this.pool(t);
      await createTarget(db, desc, first.physical, { ...t, table: p.table, keyColumn: p.newKeyColumn, keyHash: p.keyHash ?? false });
      // The new key routes and guards every row: it may not be null, and shard-local lookups by it
      // (its hash: range filters of later migrations) use an index.
      await q(db, `ALTER TABLE ${rel(t)} ALTER COLUMN ${quoteIdent(p.newKeyColumn)} SET NOT NULL`);
      await q(
        db,
        `CREATE INDEX ${quoteIdent(shardObjectName(t.physical, `${p.newKeyColumn}_${p.keyHash ? 'hash' : 'key'}`))} ON ${rel(t)} ((${this.nk}))`,
      );
    }
    let total = 0;
    for (const s of p.sources) {
      await installCapture(this.pool(s), s.physical, p.rowKey);
      total += Number((await q<{ n: string }>(this.pool(s), `SELECT count(*) AS n FROM ${rel(s)}`))[0]!.n);
    }
    this.st.total = total;
  }

  protected async resumable(): Promise<boolean> {
    const p = this.plan;
    for (const t of p.targets) if (!(await tableExists(this.pool(t), t.physical))) return false;
    const byPhysical = new Map(p.sources.map((s) => [s.physical, this.pool(s)]));
    return captureClaimed((ph) => byPhysical.get(ph)!, this.env.coord, p, [...byPhysical.keys()], p.sources[0]!.shard);
  }

  /** Upserts JSON rows into new shard `t` (on `db`), keeping those of its range; replaces the rows of `deleteIds` first. */
  private async distributeTo(db: Queryable, t: RekeyShard, rows: string, deleteIds?: string[]): Promise<void> {
    if (deleteIds) await q(db, `DELETE FROM ${rel(t)} WHERE ${this.id} = ANY($1::bigint[])`, [deleteIds]);
    await q(db, upsertSql(this.desc, rel(t), this.plan.rowKey, rangeWhere(this.nk, 2)), [rows, t.lo, t.hi]);
  }

  protected async copy(): Promise<void> {
    const p = this.plan;
    while (this.st.source < p.sources.length) {
      const s = p.sources[this.st.source]!;
      await this.copyFrom(this.pool(s), rel(s), this.id, { where: 'TRUE', params: [] }, async (rows) => {
        for (const t of p.targets) await this.distributeTo(this.pool(t), t, rows);
      });
      this.st.source += 1;
      this.st.cursor = null;
      await this.save();
    }
  }

  protected async replay(limit: number, sides?: SwitchSides): Promise<number> {
    const p = this.plan;
    let n = 0;
    for (const [i, s] of p.sources.entries()) {
      n += await this.replayFrom(
        sides?.sources[i] ?? this.pool(s),
        s.physical,
        rel(s),
        this.id,
        limit,
        () => true,
        async (ids, rows) => {
          for (const [j, t] of p.targets.entries()) {
            if (sides) await this.distributeTo(sides.targets[j]!, t, rows, ids);
            else await inTx(this.pool(t), (c) => this.distributeTo(c, t, rows, ids));
          }
        },
      );
    }
    return n;
  }

  protected switchPools(): { sources: { pool: pg.Pool; rel: string }[]; targets: pg.Pool[] } {
    const p = this.plan;
    return {
      sources: p.sources.map((s) => ({ pool: this.pool(s), rel: rel(s) })),
      targets: p.targets.map((t) => this.pool(t)),
    };
  }

  protected async verify(sides: SwitchSides): Promise<void> {
    const p = this.plan;
    const sum = async (dbs: Queryable[], shards: RekeyShard[]) => {
      let count = 0;
      let checksum = 0n;
      for (const [i, s] of shards.entries()) {
        const c = await rangeChecksum(dbs[i]!, s.physical, p.rowKey, null, null);
        count += c.count;
        checksum += BigInt(c.checksum);
      }
      return { count, checksum: checksum.toString() };
    };
    const a = await sum(sides.sources, p.sources);
    const b = await sum(sides.targets, p.targets);
    if (a.count !== b.count || a.checksum !== b.checksum) {
      throw new VerifyError(`old shards ${a.count} rows / ${a.checksum}, new shards ${b.count} rows / ${b.checksum}`);
    }
    // Every row sits in the shard of its new key (the upserts filtered by range; this proves it).
    for (const [j, t] of p.targets.entries()) {
      const out = await q<{ n: string }>(sides.targets[j]!, `SELECT count(*) AS n FROM ${rel(t)} WHERE NOT (${rangeWhere(this.nk, 1)})`, [
        t.lo,
        t.hi,
      ]);
      if (Number(out[0]!.n) > 0) throw new VerifyError(`${out[0]!.n} rows of ${t.physical} lie outside its range of ${p.newKeyColumn}`);
    }
  }

  protected async fenceAndActivate(sides: SwitchSides): Promise<void> {
    const p = this.plan;
    for (const [i, s] of p.sources.entries())
      await q(sides.sources[i]!, `UPDATE shardcast_local.shards SET state = 'retired' WHERE physical = $1`, [s.physical]);
    for (const [j, t] of p.targets.entries())
      await q(sides.targets[j]!, `UPDATE shardcast_local.shards SET state = 'active' WHERE physical = $1`, [t.physical]);
  }

  /** The table's ranges become the new shards and its key column the new key, in one version. */
  protected async routeChange(c: pg.PoolClient, v: number): Promise<void> {
    const p = this.plan;
    const owned = await q<{ n: string }>(
      c,
      'SELECT count(*) AS n FROM shardcast_route.ranges WHERE table_name = $1 AND shard = ANY($2) AND owner = $3',
      [p.table, p.sources.map((s) => s.shard), p.commandId],
    );
    if (Number(owned[0]!.n) !== p.sources.length) throw new StateError(`the shards of ${p.table} are no longer claimed by ${p.commandId}`);
    await c.query('DELETE FROM shardcast_route.ranges WHERE table_name = $1', [p.table]);
    for (const t of p.targets) {
      await c.query(
        `INSERT INTO shardcast_route.ranges (table_name, shard, lo, hi, node, version, state, owner) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)`,
        [p.table, t.shard, t.lo, t.hi, t.node, v, p.commandId],
      );
    }
    await c.query('UPDATE shardcast_route.tables SET key_column = $2, key_bounds = $3, key_hash = $4 WHERE table_name = $1', [
      p.table,
      p.newKeyColumn,
      p.keyBounds ?? null,
      p.keyHash ?? false,
    ]);
  }

  protected async routingSwitched(): Promise<boolean> {
    const rows = await q<{ key_column: string; key_hash: boolean }>(
      this.env.coord,
      'SELECT key_column, key_hash FROM shardcast_route.tables WHERE table_name = $1',
      [this.plan.table],
    );
    return rows[0]?.key_column === this.plan.newKeyColumn && rows[0].key_hash === (this.plan.keyHash ?? false);
  }

  protected async cleanup(): Promise<void> {
    const p = this.plan;
    for (const s of p.sources) await removeCapture(this.pool(s), s.physical);
    // Readers that still hold the old routes may read the retired shards for a grace period.
    await sleep(p.graceMs);
    for (const s of p.sources) {
      // the switch took the old shards' replicas out of the routing map; their copies go first
      for (const r of s.replicas ?? [])
        await dropReplica(this.env, { table: p.table, shard: s.shard, physical: s.physical, primaryNode: s.node, replicaNode: r });
      await q(this.pool(s), `DROP TABLE IF EXISTS ${rel(s)} CASCADE`);
      await q(this.pool(s), 'DELETE FROM shardcast_local.shards WHERE physical = $1', [s.physical]);
    }
  }

  protected switchedTables(): { node: string; physical: string }[] {
    return this.plan.targets.map((t) => ({ node: t.node, physical: t.physical }));
  }

  async rollback(): Promise<string | null> {
    const p = this.plan;
    const notes: string[] = [];
    for (const s of p.sources) {
      const db = this.pool(s);
      if (await tableExists(db, s.physical)) await removeCapture(db, s.physical);
      // The source owns its range again (undoes a fence committed before a failed switch).
      await q(db, `UPDATE shardcast_local.shards SET state = 'active' WHERE physical = $1`, [s.physical]);
    }
    for (const t of p.targets) {
      try {
        await q(this.pool(t), `DROP TABLE IF EXISTS ${rel(t)} CASCADE`);
        await q(this.pool(t), `DELETE FROM shardcast_local.shards WHERE physical = $1 AND state = 'pending'`, [t.physical]);
      } catch (err) {
        notes.push(`the unrouted copy ${t.physical} on ${t.node} could not be dropped (${(err as Error).message})`);
      }
    }
    await q(this.env.coord, `UPDATE shardcast_route.ranges SET state = 'active', owner = NULL WHERE table_name = $1 AND owner = $2`, [
      p.table,
      p.commandId,
    ]);
    return notes.length ? notes.join('; ') : null;
  }
}
