/**
 * Online migrations on real PostgreSQL shard nodes (the URLs of loadConfig().pgNodes), each
 * under a concurrent writer and reader: split, merge, move, replicate, dereplicate, and the
 * physical design actions. After every step the table must equal the state before plus every
 * write the database acknowledged (no row lost or duplicated), and reads must not have failed.
 */
import { testCommand } from './commands.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../lib/config.js';
import type { AnyCommand } from '../../schemas/types.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { listNodes, loadRoutes, lookupRoute } from '../../stores/postgres/routing.js';
import { PgPools, q } from '../../stores/postgres/nodes.js';
import { AckedLoad, diffRows, readAll, rowsChecksum } from '../../demo/workload.js';
import type { ExecutionContext, Outcome } from '../../executors/types.js';
import { assertPrecomputedSums, seededTwoShardOrders, shardNodesUnreachable } from './helpers.js';

const cfg = loadConfig();
const TABLE = 'exec_pg_orders';
const ROWS = 20_000;

const missing = await shardNodesUnreachable();

const command = (
  kind: 'partition' | 'shard',
  action: string,
  fields: Record<string, unknown>,
  params: Record<string, string> = {},
): AnyCommand => testCommand('exec-pg-test', TABLE, kind, action, fields, params);

function context(
  resumeFrom: Record<string, string> | null = null,
): ExecutionContext & { saved: Record<string, string> | null; reports: number } {
  const ctx = {
    saved: null as Record<string, string> | null,
    reports: 0,
    signal: new AbortController().signal,
    resumeFrom,
    async report() {
      ctx.reports++;
    },
    // Slow the copy a little so the concurrent load overlaps every phase of the migration.
    async throttle() {
      await new Promise((r) => setTimeout(r, 40));
    },
    async checkpoint(s: Record<string, string>) {
      ctx.saved = s;
    },
  };
  return ctx;
}

describe('postgres executor: online migrations under load', () => {
  before(() => {
    // The test command starts the stack first: PostgreSQL missing here is a failure, not a skip.
    if (missing) assert.fail(missing);
  });
  let adapter: PostgresShardAdapter;
  const pools = new PgPools({ executor: false });

  before(async () => {
    await seededTwoShardOrders(TABLE, 10_000, ROWS);
    adapter = await PostgresShardAdapter.open(cfg, { batchRows: 1000, defaultGraceMs: 300 });
  });

  after(async () => {
    await adapter?.close();
    await dropShardedTable(cfg, TABLE).catch(() => {});
    await pools.end();
  });

  /** Runs `cmd` under load, then checks the table against the acknowledged writes. */
  async function underLoad(t: { diagnostic(m: string): void }, cmd: AnyCommand, newKeys: [number, number]): Promise<Outcome> {
    const start = (await readAll(cfg, TABLE)).rows;
    const load = new AckedLoad(cfg, TABLE, { lo: 0, hi: ROWS, newKeysFrom: newKeys[0], newKeysTo: newKeys[1], writers: 2 });
    load.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await adapter.validate(cmd), null);
    const out = await adapter.execute(cmd, context());
    await new Promise((r) => setTimeout(r, 300));
    const stats = await load.stop();
    t.diagnostic(`${cmd.action}: ${JSON.stringify(out.details)} rows=${out.rowsCopied} bytes=${out.bytesMoved}`);
    t.diagnostic(`load: ${JSON.stringify({ ...stats, errors: stats.errors.slice(0, 3) })}`);
    assert.equal(out.status, 'SUCCEEDED', out.reason);
    assert.equal(out.verified, true);
    const got = await readAll(cfg, TABLE);
    const want = load.expected(start);
    assert.deepEqual(got.duplicates, [], 'no key in two shards');
    assert.equal(got.misplaced, 0, 'no row outside its shard range');
    assert.deepEqual(diffRows(want, got.rows), []);
    assert.equal(got.rows.size, want.size);
    assert.equal(rowsChecksum(got.rows.values()), rowsChecksum(want.values()));
    assert.equal(stats.readErrors, 0, `reads failed: ${stats.errors.join('; ')}`);
    assert.equal(stats.writeErrors, 0, `writes failed: ${stats.errors.join('; ')}`);
    assert.ok(stats.writes > 20 && stats.reads > 20, 'the load ran');
    return out;
  }

  test('split s1 at 15000 under load → s2 on the same node; routing switched in one version', async (t) => {
    const v0 = (await loadRoutes(adapter.coord, TABLE))!.version;
    await underLoad(t, command('partition', 'split', { partition: 's1' }, { splitAt: '15000' }), [20_000, 21_000]);
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    assert.equal(r.version, v0 + 1);
    assert.deepEqual(
      r.shards.map((s) => [s.shard, s.lo, s.hi, s.node, s.state, s.owner]),
      [
        ['s0', null, '10000', 'node0', 'active', null],
        ['s1', '10000', '15000', 'node1', 'active', null],
        ['s2', '15000', null, 'node1', 'active', null],
      ],
    );
    assert.deepEqual(await lookupRoute(adapter.coord, TABLE, 15_000), { shard: 's2', node: 'node1', version: v0 + 1, replicas: [] });
    assert.equal((await lookupRoute(adapter.coord, TABLE, 14_999))!.shard, 's1');
  });

  test('merge s2 back into s1 under load', async (t) => {
    await underLoad(t, command('partition', 'merge', { partition: 's1' }, { with: 's2' }), [21_000, 22_000]);
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    assert.deepEqual(
      r.shards.map((s) => [s.shard, s.lo, s.hi, s.node]),
      [
        ['s0', null, '10000', 'node0'],
        ['s1', '10000', null, 'node1'],
      ],
    );
    const node1 = (await listNodes(adapter.coord)).find((x) => x.node === 'node1')!;
    const left = await q(pools.get(node1.url), `SELECT 1 FROM pg_tables WHERE tablename = 'exec_pg_orders__s2'`);
    assert.equal(left.length, 0, 'the merged-away table is dropped after the grace period');
  });

  test('move s0 from node0 to node2 under load (copy, capture/replay, verify, switch, drop after grace)', async (t) => {
    const out = await underLoad(
      t,
      command('shard', 'move', { partition: 's0', sourceNode: 'node0', targetNode: 'node2' }, { graceMs: '500' }),
      [22_000, 23_000],
    );
    assert.ok(Number(out.details?.switchPauseMs) < 5_000);
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    assert.equal(r.shards.find((s) => s.shard === 's0')!.node, 'node2');
    const nodes = await listNodes(adapter.coord);
    const gone = await q(pools.get(nodes[0]!.url), `SELECT 1 FROM pg_tables WHERE tablename = 'exec_pg_orders__s0'`);
    assert.equal(gone.length, 0, 'source dropped after the grace period');
  });

  test('replicate s1 to node0 under load (logical replication), then dereplicate', async (t) => {
    const out = await underLoad(t, command('shard', 'replicate', { partition: 's1', targetNode: 'node0' }), [23_000, 24_000]);
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    assert.deepEqual(r.shards.find((s) => s.shard === 's1')!.replicas, ['node0']);
    const nodes = await listNodes(adapter.coord);
    const primary = pools.get(nodes[1]!.url);
    const replica = pools.get(nodes[0]!.url);
    const sum = `SELECT count(*)::int AS n, sum(hashtext(t::text)::bigint)::text AS s FROM public.exec_pg_orders__s1 t`;
    let same = false;
    for (let i = 0; i < 100 && !same; i++) {
      const [a, b] = [await q(primary, sum), await q(replica, sum)];
      same = JSON.stringify(a) === JSON.stringify(b);
      if (!same) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(same, 'replica converges to the primary after the load stops');
    // Clients cannot write to the replica: neither a row it holds nor one it does not (the load
    // deletes rows, so the first is looked up and the second is outside every key).
    const [held] = await q<{ id: string }>(replica, `SELECT id::text AS id FROM public.exec_pg_orders__s1 ORDER BY id LIMIT 1`);
    assert.ok(held, 'the replica holds rows');
    await assert.rejects(q(replica, `UPDATE public.exec_pg_orders__s1 SET payload = 'x' WHERE id = $1`, [held.id]), /not an active shard/);
    await assert.rejects(q(replica, `DELETE FROM public.exec_pg_orders__s1 WHERE id = -1`), /not an active shard/);
    t.diagnostic(`replicate: ${JSON.stringify(out.details)}`);

    const d = command('shard', 'dereplicate', { partition: 's1', targetNode: 'node0' });
    assert.equal(await adapter.validate(d), null);
    const dout = await adapter.execute(d, context());
    assert.equal(dout.status, 'SUCCEEDED', dout.reason);
    assert.deepEqual((await loadRoutes(adapter.coord, TABLE))!.shards.find((s) => s.shard === 's1')!.replicas, []);
    assert.equal((await q(replica, `SELECT 1 FROM pg_subscription WHERE subname LIKE 'sc_sub_exec_pg_orders%'`)).length, 0);
    assert.equal((await q(replica, `SELECT 1 FROM pg_tables WHERE tablename = 'exec_pg_orders__s1'`)).length, 0);
    assert.equal((await q(primary, `SELECT 1 FROM pg_publication WHERE pubname LIKE 'sc_pub_exec_pg_orders%'`)).length, 0);
  });

  test('composite index, derived attribute and precomputation on every shard; kept across a later split', async () => {
    const idx = command('partition', 'composite_index', {}, { columns: 'customer_id,updated_at' });
    assert.equal(await adapter.validate(idx), null);
    assert.equal((await adapter.execute(idx, context())).status, 'SUCCEEDED');
    const der = command('partition', 'derived_attribute', {}, { name: 'payload_lc', expression: 'lower(payload)' });
    assert.equal(await adapter.validate(der), null);
    const dres = await adapter.execute(der, context());
    assert.equal(dres.status, 'SUCCEEDED', dres.reason);
    const pre = command('partition', 'precompute', {}, { template: 'sum_by', groupBy: 'customer_id', value: 'amount', name: 'by_cust' });
    assert.equal(await adapter.validate(pre), null);
    const pres = await adapter.execute(pre, context());
    assert.equal(pres.status, 'SUCCEEDED', pres.reason);

    const check = () => assertPrecomputedSums(pools, adapter.coord, TABLE, 'by_cust');
    await check();

    // A split copies the structure (index, generated column) and re-creates the precomputation.
    const split = command('partition', 'split', { partition: 's1' }, { splitAt: '12000' });
    const sres = await adapter.execute(split, context());
    assert.equal(sres.status, 'SUCCEEDED', sres.reason);
    const routes = (await loadRoutes(adapter.coord, TABLE))!;
    const nodes = await listNodes(adapter.coord);
    for (const s of routes.shards) {
      const pool = pools.get(nodes.find((x) => x.node === s.node)!.url);
      const phys = `exec_pg_orders__${s.shard}`;
      const ix = await q(pool, `SELECT 1 FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(customer_id, updated_at)%'`, [phys]);
      assert.equal(ix.length, 1, `index on ${phys}`);
      const col = await q<{ v: string }>(pool, `SELECT payload_lc AS v FROM public.${phys} WHERE payload IS NOT NULL LIMIT 1`);
      assert.ok(col[0] && col[0].v === col[0].v.toLowerCase());
    }
    await check();
  });
});
