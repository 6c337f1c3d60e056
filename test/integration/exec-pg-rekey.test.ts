/**
 * Rekey on real PostgreSQL shard nodes, through the executor engine: a sharded table keyed on
 * `id` re-sharded by `customer_id` under a concurrent writer and reader. Afterwards the table
 * must equal the state before plus every acknowledged write (counted and checksummed), every
 * row must lie in the shard of its new key, and routed queries by the new key must answer. Bad
 * commands are REJECTED and a run that fails midway is rolled back, each changing nothing.
 */
import { testCommand } from './commands.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../lib/config.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { listNodes, loadRoutes, lookupRoute } from '../../stores/postgres/routing.js';
import { RoutedPool } from '../../stores/postgres/routedPool.js';
import { PgPools, q } from '../../stores/postgres/nodes.js';
import { AckedLoad, diffRows, readAll, rowsChecksum } from '../../demo/workload.js';
import { seededTwoShardOrders, shardNodesUnreachable } from './helpers.js';
import { PgExecutorHarness } from './pgExecutor.js';

const cfg = loadConfig();
const TABLE = 'exec_pg_rekey';
const ROWS = 20_000;

const missing = await shardNodesUnreachable();

const rekey = (keyColumns: string, fields: Record<string, unknown> = {}) =>
  testCommand('exec-pg-rekey', TABLE, 'partition', 'rekey', fields, { keyColumns, graceMs: '300' });

describe('postgres executor: rekey (online re-sharding by a new key)', () => {
  before(() => {
    // The test command starts the stack first: PostgreSQL missing here is a failure, not a skip.
    if (missing) assert.fail(missing);
  });
  const h = new PgExecutorHarness('exec-pg-rekey-test', TABLE);
  const { results } = h;
  let adapter: PostgresShardAdapter;
  let failAtBatch: number | null = null;
  const pools = new PgPools({ executor: false });
  const engine = (bytesPerSecond: number) => h.engine(bytesPerSecond);

  /** Routing version, shards, key column, physical tables and the rows' count and checksum. */
  async function snapshot() {
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    const all = await readAll(cfg, TABLE);
    const tables: string[] = [];
    for (const n of (await listNodes(adapter.coord)).filter((x) => x.state === 'active')) {
      const got = await q<{ t: string }>(pools.get(n.url), `SELECT tablename AS t FROM pg_tables WHERE tablename LIKE $1 ORDER BY 1`, [
        `${TABLE}__%`,
      ]);
      tables.push(...got.map((x) => `${n.node}/${x.t}`));
    }
    return {
      version: r.version,
      keyColumn: r.keyColumn,
      shards: r.shards.map((s) => [s.shard, s.lo, s.hi, s.node, s.state, s.owner]),
      tables,
      rows: all.rows.size,
      checksum: rowsChecksum(all.rows.values()),
    };
  }

  before(async () => {
    await seededTwoShardOrders(TABLE, 10_000, ROWS);
    adapter = (
      await h.open({
        batchRows: 1000,
        afterBatch: (b) => {
          if (b === failAtBatch) throw new Error(`injected failure after batch ${b}`);
        },
      })
    ).adapter;
  });

  after(async () => {
    await h.close();
    await pools.end();
  });

  test('bad rekeys are REJECTED with the reason and change nothing', async () => {
    const before0 = await snapshot();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{}, 'no_such_column', /unknown column no_such_column of exec_pg_rekey/],
      [{}, 'id', /already keyed on id/],
      [{}, 'payload', /key column payload is text; the shard router needs bigint or integer/],
      [{}, 'customer_id,amount', /one integer column, not 2/],
      [{ partition: 's0' }, 'customer_id', /re-shards the whole table/],
      [{}, 'Customer-Id', /keyColumns/],
    ];
    for (const [fields, cols, want] of cases) {
      const cmd = rekey(cols, fields);
      assert.equal(await engine(1e12).run(cmd), 'REJECTED', cols);
      const r = results.find((x) => x.commandId === cmd.commandId && x.status === 'REJECTED');
      assert.match(r?.reason ?? '', want);
    }
    const unknown = testCommand('exec-pg-rekey', 'no_such_table', 'partition', 'rekey', {}, { keyColumns: 'customer_id' });
    assert.equal(await engine(1e12).run(unknown), 'REJECTED');
    assert.match(results.at(-1)?.reason ?? '', /unknown table no_such_table/);
    assert.deepEqual(await snapshot(), before0);
  });

  test('a rekey that fails midway rolls back: routing, tables and rows as before', async () => {
    const before0 = await snapshot();
    failAtBatch = 3;
    try {
      const cmd = rekey('customer_id');
      assert.equal(await engine(1e12).run(cmd), 'ROLLED_BACK');
      const r = results.find((x) => x.commandId === cmd.commandId && x.status === 'ROLLED_BACK');
      assert.match(r?.reason ?? '', /injected failure after batch 3/);
    } finally {
      failAtBatch = null;
    }
    assert.deepEqual(await snapshot(), before0);
    for (const n of (await listNodes(adapter.coord)).filter((x) => x.state === 'active')) {
      const trig = await q(pools.get(n.url), `SELECT 1 FROM pg_trigger WHERE tgname = 'shardcast_capture'`);
      assert.equal(trig.length, 0, `no capture trigger left on ${n.node}`);
    }
  });

  test('rekey id → customer_id under load: every row once, in the shard of its new key; queries answer', async (t) => {
    const v0 = (await loadRoutes(adapter.coord, TABLE))!.version;
    const start = (await readAll(cfg, TABLE)).rows;
    const load = new AckedLoad(cfg, TABLE, { lo: 0, hi: ROWS, newKeysFrom: 30_000, newKeysTo: 31_000, writers: 2 });
    load.start();
    await new Promise((r) => setTimeout(r, 300));
    const cmd = rekey('customer_id');
    const t0 = Date.now();
    // ~1 MB/s: the copy of ~2.5 MB takes seconds, so the writers overlap every phase.
    const status = await engine(1_000_000).run(cmd);
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 300));
    const stats = await load.stop();
    const done = results.filter((x) => x.commandId === cmd.commandId);
    const last = done.at(-1)!;
    t.diagnostic(`rekey: ${seconds.toFixed(1)} s, rows=${last.rowsCopied} bytes=${last.bytesMoved} ${JSON.stringify(last.details)}`);
    t.diagnostic(`load: ${JSON.stringify({ ...stats, errors: stats.errors.slice(0, 3) })}`);
    assert.equal(status, 'SUCCEEDED', last.reason ?? undefined);
    assert.deepEqual([...new Set(done.map((x) => x.status))], ['ACCEPTED', 'RUNNING', 'SUCCEEDED']);
    assert.equal(last.verified, true);

    const got = await readAll(cfg, TABLE);
    const want = load.expected(start);
    assert.deepEqual(got.duplicates, [], 'no row in two shards');
    assert.equal(got.misplaced, 0, 'no row outside the range of its new key');
    assert.deepEqual(diffRows(want, got.rows), []);
    assert.equal(got.rows.size, want.size, 'row count');
    assert.equal(rowsChecksum(got.rows.values()), rowsChecksum(want.values()), 'row checksum');
    assert.ok(stats.writes > 20 && stats.reads > 20, 'the load ran');
    assert.equal(stats.writeErrors, 0, `writes failed: ${stats.errors.join('; ')}`);
    assert.equal(stats.readErrors, 0, `reads failed: ${stats.errors.join('; ')}`);

    // The table is now sharded by customer_id, in one routing version, on new shard tables.
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    assert.equal(r.keyColumn, 'customer_id');
    assert.equal(r.version, v0 + 1);
    assert.deepEqual(
      r.shards.map((s) => s.shard),
      ['s2', 's3'],
    );
    assert.equal(r.shards[0]!.lo, null);
    assert.equal(r.shards.at(-1)!.hi, null);
    assert.ok(r.shards.every((s) => s.state === 'active' && s.owner === null));
    const after0 = await snapshot();
    assert.deepEqual(
      after0.tables,
      r.shards.map((s) => `${s.node}/${TABLE}__${s.shard}`),
      'old shard tables dropped after the grace period',
    );
    // Both halves hold a fair share of the rows (bounds from the new key's quantiles).
    const per = await Promise.all(
      r.shards.map(async (s) => {
        const url = (await listNodes(adapter.coord)).find((n) => n.node === s.node)!.url;
        return Number((await q<{ n: string }>(pools.get(url), `SELECT count(*) AS n FROM public.${TABLE}__${s.shard}`))[0]!.n);
      }),
    );
    t.diagnostic(`rows per new shard: ${per.join(', ')}`);
    assert.ok(Math.min(...per) > want.size / 4, `balanced: ${per.join(', ')}`);

    // Queries by the new key answer from one shard, with every row of that customer.
    const router = new RoutedPool(cfg.pgNodes);
    try {
      for (const c of ['0', '5', '96']) {
        const rows = [...want.values()].filter((x) => x.customer_id === c).length;
        const res = await router.query<{ n: string }>(TABLE, { customer_id: c }, 'SELECT count(*) AS n FROM {t} WHERE customer_id = $1', [
          c,
        ]);
        assert.equal(Number(res.rows[0]!.n), rows, `customer ${c}`);
        assert.equal(res.shard, (await lookupRoute(adapter.coord, TABLE, c))!.shard);
      }
      await assert.rejects(router.query(TABLE, { id: '5' }, 'SELECT 1 FROM {t}'), /names no value of its key column customer_id/);
    } finally {
      await router.close();
    }
    // The shard guard now checks the new key: a row written to the wrong shard is refused.
    const s0 = r.shards[0]!;
    const url = (await listNodes(adapter.coord)).find((n) => n.node === s0.node)!.url;
    await assert.rejects(
      q(
        pools.get(url),
        `INSERT INTO public.${TABLE}__${s0.shard} (id, customer_id, amount, payload, updated_at) VALUES (99999, 1000, 1, 'x', now())`,
      ),
      /outside shard/,
    );
  });

  test('the re-keyed table: a move and a split by the new (non-unique) key, then a rekey back to id, each losing nothing', async (t) => {
    const want = await snapshot();
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    assert.equal(r.keyColumn, 'customer_id');
    const last = r.shards.at(-1)!;
    const steps = [
      testCommand('exec-pg-rekey', TABLE, 'shard', 'move', { partition: r.shards[0]!.shard, targetNode: 'node2' }),
      testCommand('exec-pg-rekey', TABLE, 'partition', 'split', { partition: last.shard }, { splitAt: String(Number(last.lo) + 20) }),
      rekey('id'),
    ];
    for (const cmd of steps) {
      assert.equal(await engine(1e12).run(cmd), 'SUCCEEDED', results.filter((x) => x.commandId === cmd.commandId).at(-1)?.reason ?? '');
      const got = await snapshot();
      t.diagnostic(`${cmd.action}: ${got.keyColumn} ${JSON.stringify(got.shards)}`);
      assert.equal(got.rows, want.rows, `${cmd.action}: row count`);
      assert.equal(got.checksum, want.checksum, `${cmd.action}: row checksum`);
      const all = await readAll(cfg, TABLE);
      assert.deepEqual([all.duplicates.length, all.misplaced], [0, 0], cmd.action);
    }
    assert.equal((await loadRoutes(adapter.coord, TABLE))!.keyColumn, 'id');
  });

  test('a rekey whose executor died midway resumes from its checkpoint and ends with every row once', async (t) => {
    const T2 = 'exec_pg_rekey_resume';
    await seededTwoShardOrders(T2, 2_500, 5_000);
    const cmd = testCommand('exec-pg-rekey', T2, 'partition', 'rekey', {}, { keyColumns: 'customer_id', graceMs: '100' });
    // The first executor stops for good in the second old shard's copy (batch 7 of 500 rows), as a killed process would.
    const box: { saved: Record<string, string> | null } = { saved: null };
    const stuck = await PostgresShardAdapter.open(cfg, {
      batchRows: 500,
      afterBatch: (b) => (b === 7 ? new Promise(() => {}) : undefined),
    });
    const second = await PostgresShardAdapter.open(cfg, { batchRows: 500 });
    try {
      const before0 = await readAll(cfg, T2);
      const ctx = (resumeFrom: Record<string, string> | null) => ({
        signal: new AbortController().signal,
        resumeFrom,
        async report() {},
        async throttle() {},
        async checkpoint(s: Record<string, string>) {
          box.saved = s;
        },
      });
      void stuck.execute(cmd, ctx(null));
      for (let i = 0; i < 200 && Number(box.saved?.batches ?? 0) < 7; i++) await new Promise((r) => setTimeout(r, 50));
      const at = box.saved;
      assert.equal(at?.phase, 'copy');
      assert.equal(at?.source, '1', 'the checkpoint is in the second old shard');
      const out = await second.execute(cmd, ctx(at));
      t.diagnostic(`resumed rekey: ${JSON.stringify(out.details)}`);
      assert.equal(out.status, 'SUCCEEDED', out.reason);
      assert.equal(out.details?.resumed, 'true');
      const got = await readAll(cfg, T2);
      assert.equal(got.rows.size, before0.rows.size);
      assert.equal(rowsChecksum(got.rows.values()), rowsChecksum(before0.rows.values()));
      assert.deepEqual(got.duplicates, []);
      assert.equal(got.misplaced, 0);
      assert.equal((await loadRoutes(adapter.coord, T2))!.keyColumn, 'customer_id');
    } finally {
      await stuck.close();
      await second.close();
      await dropShardedTable(cfg, T2).catch(() => {});
    }
  });
});
