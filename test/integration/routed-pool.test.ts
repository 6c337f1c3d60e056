/**
 * The application routing client (`RoutedPool`) on real PostgreSQL shard nodes: statements
 * routed by key stay correct across a live move (during a call and between calls), a replicate
 * and a dereplicate; a read that allows staleness lands on the replica (shown by the server's
 * own port) or on a matching precomputed view; a read spelling out a derived attribute reads
 * its column; a write never reaches a replica; a write on a route cached from before a split that
 * matches no row at the old shard follows the key to its new one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readAll } from '../../demo/workload.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import type { ExecutionContext } from '../../executors/types.js';
import { InputError } from '../../lib/errors.js';
import { inTx } from '../../stores/postgres/nodes.js';
import { listNodes, loadRoutes } from '../../stores/postgres/routing.js';
import { precomputeSelect } from '../../stores/postgres/precomputed.js';
import { RoutedPool } from '../../stores/postgres/routedPool.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { testCommand } from './commands.js';
import { cfg, seededTwoShardOrders, shardNodesUnreachable } from './helpers.js';

const TABLE = 'sdk_routed_orders';
const ROWS = 2_000;

const missing = await shardNodesUnreachable();

const command = (kind: 'partition' | 'shard', action: string, fields: Record<string, unknown>, params: Record<string, string> = {}) =>
  testCommand('routed-pool-test', TABLE, kind, action, fields, params);

const context = (): ExecutionContext => ({
  signal: new AbortController().signal,
  resumeFrom: null,
  async report() {},
  // Slow the copy a little so routed statements overlap every phase of the move.
  async throttle() {
    await new Promise((r) => setTimeout(r, 20));
  },
  async checkpoint() {},
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INSERT = `INSERT INTO {t} (id, customer_id, amount, payload, updated_at) VALUES ($1, $2, $3, $4, now())`;
const BY_ID = `SELECT id::text AS id, amount::text AS amount, inet_server_port() AS port FROM {t} WHERE id = $1`;

describe('RoutedPool: the application routing client', () => {
  before(() => {
    if (missing) assert.fail(missing);
  });
  let adapter: PostgresShardAdapter;
  // A routing map cached for 10 minutes: only a route change seen by a statement refreshes it.
  const pool = new RoutedPool(cfg.pgNodes, { ttlMs: 600_000, designTtlMs: 0 });
  const idle = new RoutedPool(cfg.pgNodes, { ttlMs: 600_000 });
  let portOf: Map<string, number>;

  before(async () => {
    await seededTwoShardOrders(TABLE, 1_000, ROWS);
    adapter = await PostgresShardAdapter.open(cfg, { batchRows: 200, defaultGraceMs: 300 });
    portOf = new Map((await listNodes(adapter.coord)).map((n) => [n.node, Number(new URL(n.url).port || 5432)]));
  });

  after(async () => {
    await pool.close();
    await idle.close();
    await adapter?.close();
    await dropShardedTable(cfg, TABLE).catch(() => {});
  });

  test('writes and fresh reads run on the primary of the shard that holds the key; misuse is a clear error', async () => {
    const w = await pool.query(TABLE, 5_000, INSERT, [5_000, 5, '1.50', 'w'], {});
    assert.deepEqual([w.node, w.servedBy, w.rowCount], ['node1', 'primary', 1]);
    const r = await pool.query<{ id: string; port: number }>(TABLE, 5_000, BY_ID, [5_000], { readOnly: true });
    assert.deepEqual([r.rows[0]?.id, r.node, r.servedBy, r.rows[0]?.port], ['5000', 'node1', 'primary', portOf.get('node1')]);
    const low = await pool.query<{ port: number }>(TABLE, 10, BY_ID, [10], { readOnly: true });
    assert.deepEqual([low.node, low.rows[0]?.port], ['node0', portOf.get('node0')]);
    await idle.query(TABLE, 1_500, BY_ID, [1_500], { readOnly: true }); // cached before the move, then left alone

    await assert.rejects(pool.query(TABLE, 5_000, `DELETE FROM {t} WHERE id = $1`, [5_000], { readOnly: true }), InputError);
    await assert.rejects(pool.query(TABLE, 5_000, BY_ID, [5_000], { allowStale: true }), /allowStale needs readOnly/);
    await assert.rejects(pool.query(TABLE, 'x1', BY_ID, [1], { readOnly: true }), /not an integer key/);
    assert.equal((await pool.query(TABLE, 5_000, BY_ID, [5_000], { readOnly: true })).rows.length, 1, 'the refused delete changed nothing');
  });

  test('a live move of s1 under routed writes and reads: every acknowledged write is read back, during and after', async (t) => {
    const acked: number[] = [];
    const errors: string[] = [];
    let stop = false;
    let readsDuring = 0;
    // One writer that reads its own write back through a fresh read (bounded: stops by flag or count).
    const load = (async () => {
      for (let id = 10_000; !stop && id < 30_000; id++) {
        try {
          await pool.query(TABLE, id, INSERT, [id, id % 97, '2.00', 'm'], {});
          acked.push(id);
          const back = await pool.query(TABLE, id, BY_ID, [id], { readOnly: true });
          readsDuring++;
          if (back.rows.length !== 1) errors.push(`read of ${id} on ${back.node} found ${back.rows.length} rows`);
        } catch (err) {
          errors.push(`${id}: ${(err as Error).message}`);
        }
      }
    })();
    await sleep(200);
    const out = await adapter.execute(
      command('shard', 'move', { partition: 's1', sourceNode: 'node1', targetNode: 'node2' }, { graceMs: '300' }),
      context(),
    );
    await sleep(300);
    stop = true;
    await load;
    t.diagnostic(
      `move: ${out.status} ${JSON.stringify(out.details)}; writes ${acked.length}, reads ${readsDuring}, refreshes ${pool.refreshes}`,
    );
    assert.equal(out.status, 'SUCCEEDED', out.reason);
    assert.deepEqual(errors, []);
    assert.ok(acked.length > 20, 'the load ran through the move');
    assert.ok(pool.refreshes >= 1, 'a statement saw the route change and refreshed');
    assert.equal((await loadRoutes(adapter.coord, TABLE))!.shards.find((s) => s.shard === 's1')!.node, 'node2');

    const all = (await readAll(cfg, TABLE)).rows;
    for (const id of acked) assert.ok(all.has(String(id)), `acknowledged write ${id} is stored`);
    const moved = await pool.query<{ port: number }>(TABLE, acked.at(-1)!, BY_ID, [acked.at(-1)], { readOnly: true });
    assert.deepEqual([moved.node, moved.rows[0]?.port], ['node2', portOf.get('node2')]);

    // Between two calls: the idle client still holds the old route, and follows on its next call.
    const late = await idle.query<{ id: string; port: number }>(TABLE, 1_500, BY_ID, [1_500], { readOnly: true });
    assert.deepEqual([late.rows[0]?.id, late.node, late.rows[0]?.port], ['1500', 'node2', portOf.get('node2')]);
    assert.equal(idle.refreshes, 1);
  });

  test('a statement that is exactly a precomputation query reads its view when staleness is allowed', async () => {
    const pre = command('partition', 'precompute', {}, { template: 'sum_by', groupBy: 'customer_id', value: 'amount', name: 'by_cust' });
    assert.equal(await adapter.validate(pre), null);
    const res = await adapter.execute(pre, context());
    assert.equal(res.status, 'SUCCEEDED', res.reason);
    const sql = precomputeSelect(
      { template: 'sum_by', name: 'by_cust', groupBy: 'customer_id', value: 'amount' },
      '{t}',
      ' WHERE "customer_id" = $1',
    );
    const view = await pool.query<{ grp: string; n: string; total: string }>(TABLE, 1_500, sql, [5], { readOnly: true, allowStale: true });
    const fresh = await pool.query<{ grp: string; n: string; total: string }>(TABLE, 1_500, sql, [5], { readOnly: true });
    assert.equal(view.servedBy, 'precomputed');
    assert.equal(fresh.servedBy, 'primary');
    assert.deepEqual(view.rows, fresh.rows, 'the view answers what the statement answers');
    assert.ok(Number(fresh.rows[0]?.n) > 0);

    // A write after the refresh shows in the table but not in the view: the view is what was read.
    await pool.query(TABLE, 40_000, INSERT, [40_000, 5, '7.00', 'v'], {});
    const stale = await pool.query<{ n: string }>(TABLE, 1_500, sql, [5], { readOnly: true, allowStale: true });
    const now = await pool.query<{ n: string }>(TABLE, 1_500, sql, [5], { readOnly: true });
    assert.equal(Number(now.rows[0]?.n), Number(fresh.rows[0]?.n) + 1);
    assert.equal(stale.rows[0]?.n, fresh.rows[0]?.n);
    const other = await pool.query(TABLE, 1_500, sql.replace('AS n,', 'AS cnt,'), [5], { readOnly: true, allowStale: true });
    assert.notEqual(other.servedBy, 'precomputed', 'a statement that differs runs as written');
  });

  test('a read that spells out a derived attribute reads its stored column, with the same rows', async () => {
    const der = command('partition', 'derived_attribute', {}, { name: 'payload_lc', expression: 'lower(payload)' });
    assert.equal(await adapter.validate(der), null);
    const res = await adapter.execute(der, context());
    assert.equal(res.status, 'SUCCEEDED', res.reason);
    const uses = await pool.query<{ id: string }>(TABLE, 1_500, `SELECT id::text AS id FROM {t} WHERE lower("payload") = $1`, ['p1500'], {
      readOnly: true,
    });
    assert.equal(uses.statement, `SELECT id::text AS id FROM public."sdk_routed_orders__s1" WHERE "payload_lc" = $1`);
    const asWritten = await pool.query<{ id: string }>(
      TABLE,
      1_500,
      `SELECT id::text AS id FROM {t} WHERE lower(payload) = $1`,
      ['p1500'],
      {
        readOnly: true,
      },
    );
    assert.match(asWritten.statement, /lower\(payload\)/, 'another spelling runs as written');
    assert.deepEqual(uses.rows, [{ id: '1500' }]);
    assert.deepEqual(uses.rows, asWritten.rows);
    const write = await pool.query(TABLE, 1_500, `UPDATE {t} SET amount = amount WHERE lower("payload") = $1`, ['p1500']);
    assert.match(write.statement, /lower\("payload"\)/, 'writes run as written');
  });

  test('replicate s1: stale-allowed reads land on the replica, writes on the primary; after dereplicate, on the primary again', async () => {
    const rep = await adapter.execute(command('shard', 'replicate', { partition: 's1', targetNode: 'node0' }), context());
    assert.equal(rep.status, 'SUCCEEDED', rep.reason);
    assert.deepEqual((await loadRoutes(adapter.coord, TABLE))!.shards.find((s) => s.shard === 's1')!.replicas, ['node0']);

    // The cached route has no replica yet; a later refresh (a short-lived client) sees it.
    const fresh = new RoutedPool(cfg.pgNodes, { ttlMs: 600_000 });
    try {
      const w = await fresh.query(TABLE, 50_000, INSERT, [50_000, 1, '3.00', 'r'], {});
      assert.deepEqual([w.node, w.servedBy], ['node2', 'primary']);
      const staleWrite = fresh.query(TABLE, 50_000, `UPDATE {t} SET amount = 9 WHERE id = $1`, [50_000], {
        readOnly: true,
        allowStale: true,
      });
      await assert.rejects(staleWrite, InputError, 'a write sent as a stale read is refused, not run on the replica');

      let seen: { node: string; servedBy: string; port?: number } | null = null;
      for (let i = 0; i < 100 && !seen; i++) {
        const r = await fresh.query<{ port: number }>(TABLE, 50_000, BY_ID, [50_000], { readOnly: true, allowStale: true });
        assert.equal(r.servedBy, 'replica');
        if (r.rows.length === 1) seen = { node: r.node, servedBy: r.servedBy, port: r.rows[0]!.port };
        else await sleep(100);
      }
      assert.deepEqual(seen, { node: 'node0', servedBy: 'replica', port: portOf.get('node0') }, 'the replica served the row');
      const primary = await fresh.query<{ amount: string; port: number }>(TABLE, 50_000, BY_ID, [50_000], { readOnly: true });
      assert.deepEqual([primary.node, primary.rows[0]?.port, primary.rows[0]?.amount], ['node2', portOf.get('node2'), '3.00']);

      const der = await adapter.execute(command('shard', 'dereplicate', { partition: 's1', targetNode: 'node0' }), context());
      assert.equal(der.status, 'SUCCEEDED', der.reason);
      const back = await fresh.query<{ port: number }>(TABLE, 50_000, BY_ID, [50_000], { readOnly: true, allowStale: true });
      assert.deepEqual([back.node, back.servedBy, back.rows[0]?.port], ['node2', 'primary', portOf.get('node2')]);
      assert.equal(fresh.refreshes, 1, 'the dropped replica table sent the client back to the routing map');
    } finally {
      await fresh.close();
    }
  });

  test('a write on a route cached from before a split reaches the shard that holds the key now, even where it matches no row at the old one', async () => {
    // a client that learns the routes now, before the split, and keeps them for ten minutes
    const stale = new RoutedPool(cfg.pgNodes, { ttlMs: 600_000 });
    try {
      await stale.query(TABLE, 1_700, BY_ID, [1_700], { readOnly: true });
      const split = await adapter.execute(
        command('partition', 'split', { partition: 's1' }, { splitAt: '1600', newShard: 's9' }),
        context(),
      );
      assert.equal(split.status, 'SUCCEEDED', split.reason);
      // the split deleted the moved rows from s1: a statement there matches none, and no guard sees a row to refuse
      const del = await stale.query(TABLE, 1_700, 'DELETE FROM {t} WHERE id = $1', [1_700]);
      assert.deepEqual([del.shard, del.rowCount], ['s9', 1], 'the delete ran where the row is');
      const upd = await stale.query(TABLE, 1_701, `UPDATE {t} SET amount = 7 WHERE id = $1`, [1_701]);
      assert.deepEqual([upd.shard, upd.rowCount], ['s9', 1]);
      assert.equal(stale.refreshes, 1);
      const rows = (await readAll(cfg, TABLE)).rows;
      assert.equal(rows.has('1700'), false, 'the acknowledged delete took effect');
      assert.equal(rows.get('1701')?.amount, '7');
      // a write that truly matches nothing on the shard that holds the key is an answer, not a route change
      const none = await stale.query(TABLE, 1_700, 'DELETE FROM {t} WHERE id = $1', [1_700]);
      assert.deepEqual([none.shard, none.rowCount, stale.refreshes], ['s9', 0, 1]);
    } finally {
      await stale.close();
    }
  });

  test('the routing map is read in one snapshot: a reader racing a rekey-like switch never pairs one key column with the other ranges', async () => {
    // A table whose key column and ranges flip together in one transaction, as a rekey's switch does.
    const FLIP = 'sdk_routes_flip';
    const shape = { id: ['a0', 'a1'], customer_id: ['b0'] } as Record<string, string[]>;
    const flipTo = (key: 'id' | 'customer_id') =>
      inTx(adapter.coord, async (c) => {
        await c.query('UPDATE shardcast_route.tables SET key_column = $2, version = version + 1 WHERE table_name = $1', [FLIP, key]);
        await c.query('DELETE FROM shardcast_route.ranges WHERE table_name = $1', [FLIP]);
        for (const [i, shard] of shape[key]!.entries()) {
          const [lo, hi] = shape[key]!.length === 1 ? [null, null] : i === 0 ? [null, 100] : [100, null];
          await c.query(`INSERT INTO shardcast_route.ranges (table_name, shard, lo, hi, node) VALUES ($1, $2, $3, $4, 'node0')`, [
            FLIP,
            shard,
            lo,
            hi,
          ]);
        }
      });
    await adapter.coord.query('DELETE FROM shardcast_route.tables WHERE table_name = $1', [FLIP]);
    await adapter.coord.query(`INSERT INTO shardcast_route.tables (table_name, key_column) VALUES ($1, 'id')`, [FLIP]);
    try {
      await flipTo('id');
      let flipping = true;
      let flips = 0;
      const flipper = (async () => {
        for (let i = 0; i < 400 && flipping; i++, flips++) await flipTo(i % 2 === 0 ? 'customer_id' : 'id');
      })();
      const torn: string[] = [];
      let reads = 0;
      for (let i = 0; i < 400; i++, reads++) {
        const r = (await loadRoutes(adapter.coord, FLIP))!;
        const got = r.shards.map((s) => s.shard).join(',');
        if (got !== shape[r.keyColumn]!.join(',')) torn.push(`${r.keyColumn} with ${got}`);
      }
      flipping = false;
      await flipper;
      assert.ok(flips > 10 && reads === 400, `the reads raced the switches (${flips} switches)`);
      assert.deepEqual(torn.slice(0, 5), [], 'every read pairs the key column with its own ranges');
    } finally {
      await adapter.coord.query('DELETE FROM shardcast_route.tables WHERE table_name = $1', [FLIP]);
    }
  });
});
