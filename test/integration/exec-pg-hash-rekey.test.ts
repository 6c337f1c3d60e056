/**
 * A hashed key on real PostgreSQL shard nodes (docs/decisions/0139): the router's TypeScript
 * twin of `hashint8` agrees with the server; a table keyed on `id` whose writers append new ids
 * is re-keyed on the hash of `id` under that load, through the executor engine. Afterwards the
 * table equals the state before plus every acknowledged write (counted and checksummed), every
 * row lies in the shard of its key's hash, the appended ids spread over both shards, routed
 * queries and the routing map's SQL lookup agree, and the guard checks the hash. The hashed
 * table's shards then split, move, replicate and merge by ranges of the hash under the same
 * appending load, losing nothing, and a rekey by the column restores plain ranges.
 */
import { testCommand } from './commands.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../lib/config.js';
import type { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { listNodes, loadRoutes, lookupRoute } from '../../stores/postgres/routing.js';
import { RoutedPool } from '../../stores/postgres/routedPool.js';
import { PgPools, q } from '../../stores/postgres/nodes.js';
import { hashCuts, hashInt8 } from '../../schemas/keyHash.js';
import { loadTableKeys } from '../../stores/postgres/tableKeys.js';
import { inRange } from '../../stores/postgres/keys.js';
import { AckedLoad, diffRows, readAll, rowsChecksum } from '../../demo/workload.js';
import { seededTwoShardOrders, shardNodesUnreachable } from './helpers.js';
import { PgExecutorHarness } from './pgExecutor.js';

const cfg = loadConfig();
const TABLE = 'exec_pg_hash_rekey';
const ROWS = 10_000;

const missing = await shardNodesUnreachable();

describe('postgres executor: rekey on the hash of the key (append hot spots)', () => {
  before(() => {
    // The test command starts the stack first: PostgreSQL missing here is a failure, not a skip.
    if (missing) assert.fail(missing);
  });
  const h = new PgExecutorHarness('exec-pg-hash-rekey-test', TABLE);
  const { results } = h;
  let adapter: PostgresShardAdapter;
  const pools = new PgPools({ executor: false });
  const engine = () => h.engine(1_000_000);
  const run = async (
    action: 'rekey' | 'split' | 'merge' | 'move' | 'replicate',
    fields: Record<string, unknown>,
    params: Record<string, string>,
  ) => {
    const kind = action === 'rekey' || action === 'split' || action === 'merge' ? 'partition' : 'shard';
    const cmd = testCommand('exec-pg-hash-rekey', TABLE, kind, action, fields, params);
    const status = await engine().run(cmd);
    return { status, last: results.filter((x) => x.commandId === cmd.commandId).at(-1)! };
  };
  /** The table now: its rows at `start` plus every write `load` had acknowledged, each once, in the shard of its key's hash. */
  const assertStartPlusAcked = async (load: AckedLoad, start: Awaited<ReturnType<typeof readAll>>['rows']) => {
    const got = await readAll(cfg, TABLE);
    const want = load.expected(start);
    assert.deepEqual(got.duplicates, [], 'no row in two shards');
    assert.equal(got.misplaced, 0, "no row outside the range of its key's hash");
    assert.deepEqual(diffRows(want, got.rows), []);
    assert.equal(rowsChecksum(got.rows.values()), rowsChecksum(want.values()), 'row checksum');
    return want;
  };
  const urlOf = async (node: string) => (await listNodes(adapter.coord)).find((n) => n.node === node)!.url;

  before(async () => {
    await seededTwoShardOrders(TABLE, ROWS / 2, ROWS);
    adapter = (await h.open({ batchRows: 1000 })).adapter;
  });

  after(async () => {
    await h.close();
    await pools.end();
  });

  test("the router's hash is the server's hashint8, value by value", async () => {
    const values: bigint[] = [0n, 1n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n, -(2n ** 32n), 2n ** 63n - 1n, -(2n ** 63n)];
    let x = 0x2545f4914f6cdd1dn;
    for (let i = 0; i < 3000; i++) {
      // xorshift64: values spread over the whole int64 range, small ones and sequences too
      x ^= (x << 13n) & 0xffffffffffffffffn;
      x ^= x >> 7n;
      x ^= (x << 17n) & 0xffffffffffffffffn;
      values.push(BigInt.asIntN(64, x), BigInt(i), BigInt(-i) * 1000n);
    }
    const rows = await q<{ v: string; h: number }>(adapter.coord, 'SELECT v::text, hashint8(v) AS h FROM unnest($1::bigint[]) v', [
      values.map(String),
    ]);
    assert.equal(rows.length, values.length);
    const wrong = rows.filter((r) => hashInt8(BigInt(r.v)) !== r.h);
    assert.deepEqual(wrong.slice(0, 3), []);
  });

  test('rekey id → hash(id) under appending writers: every row once, in the shard of its hash; appended ids spread', async (t) => {
    // the top shard, which takes the appends, has a read replica: the rekey drops it with the shard
    const rep = await run('replicate', { partition: 's1', sourceNode: 'node1', targetNode: 'node2' }, {});
    assert.equal(rep.status, 'SUCCEEDED', rep.last.reason ?? undefined);
    assert.deepEqual((await loadRoutes(adapter.coord, TABLE))!.shards.find((x) => x.shard === 's1')!.replicas, ['node2']);
    const v0 = (await loadRoutes(adapter.coord, TABLE))!.version;
    const start = (await readAll(cfg, TABLE)).rows;
    // the writers append ids past the table's end: the shard of the top range takes them all
    const load = new AckedLoad(cfg, TABLE, { lo: 0, hi: ROWS, newKeysFrom: 20_000, newKeysTo: 21_000, writers: 2 });
    load.start();
    await new Promise((r) => setTimeout(r, 300));
    const { status, last } = await run('rekey', {}, { keyColumns: 'id', keyHash: 'true', graceMs: '300' });
    await new Promise((r) => setTimeout(r, 300));
    const stats = await load.stop();
    t.diagnostic(`rekey: rows=${last.rowsCopied} bytes=${last.bytesMoved} ${JSON.stringify(last.details)}`);
    t.diagnostic(`load: ${JSON.stringify({ ...stats, errors: stats.errors.slice(0, 3) })}`);
    assert.equal(status, 'SUCCEEDED', last.reason ?? undefined);
    assert.equal(last.verified, true);
    assert.equal(last.details.keyHash, 'true');

    const want = await assertStartPlusAcked(load, start);
    assert.ok(stats.writes > 20 && stats.reads > 20, 'the load ran');
    assert.equal(stats.writeErrors, 0, `writes failed: ${stats.errors.join('; ')}`);
    assert.equal(stats.readErrors, 0, `reads failed: ${stats.errors.join('; ')}`);

    const r = (await loadRoutes(adapter.coord, TABLE))!;
    assert.deepEqual([r.keyColumn, r.keyHash, r.version], ['id', true, v0 + 1]);
    // ingest's key buckets: 16 equal ranges of the hash, recorded with the key
    assert.deepEqual(await loadTableKeys(adapter.coord, [TABLE]), [{ table: TABLE, column: 'id', bounds: hashCuts(16), hashed: true }]);
    assert.ok(r.shards.every((x) => x.replicas.length === 0 && x.state === 'active' && x.owner === null));
    const node2 = pools.get(await urlOf('node2'));
    assert.deepEqual(await q(node2, 'SELECT tablename FROM pg_tables WHERE tablename = $1', [`${TABLE}__s1`]), [], 'replica table dropped');
    assert.deepEqual(
      await q(node2, `SELECT subname FROM pg_subscription WHERE subname LIKE 'sc_sub_${TABLE}%'`),
      [],
      'subscription dropped',
    );
    assert.deepEqual(
      r.shards.map((s) => [s.lo, s.hi]),
      [
        [null, '0'],
        ['0', null],
      ],
    );
    // sequential ids, the seeded ones and the appended ones alike, land on both shards evenly
    const appended = [...want.keys()].filter((id) => Number(id) >= 20_000);
    assert.ok(appended.length > 10, `ids appended: ${appended.length}`);
    const onFirst = (ids: string[]) => ids.filter((id) => inRange(String(hashInt8(BigInt(id))), r.shards[0]!.lo, r.shards[0]!.hi)).length;
    t.diagnostic(`appended ids on the first shard: ${onFirst(appended)} of ${appended.length}`);
    assert.ok(onFirst(appended) > appended.length / 4 && onFirst(appended) < (3 * appended.length) / 4, 'appended ids spread');
    const per = await Promise.all(
      r.shards.map(async (s) =>
        Number((await q<{ n: string }>(pools.get(await urlOf(s.node)), `SELECT count(*) AS n FROM public.${TABLE}__${s.shard}`))[0]!.n),
      ),
    );
    t.diagnostic(`rows per shard: ${per.join(', ')}`);
    assert.ok(Math.min(...per) > want.size / 3, `balanced: ${per.join(', ')}`);

    // routed queries by id answer from the shard the SQL lookup names
    const router = new RoutedPool(cfg.pgNodes);
    try {
      // rows the table holds (the load deletes some of the seeded ones)
      const seeded = [...want.keys()].filter((id) => Number(id) < ROWS).sort((a, b) => Number(a) - Number(b));
      for (const id of [seeded[0]!, seeded[Math.floor(seeded.length / 2)]!, seeded.at(-1)!, appended[0]!]) {
        const res = await router.query<{ n: string }>(TABLE, { id }, 'SELECT count(*) AS n FROM {t} WHERE id = $1', [id]);
        assert.equal(Number(res.rows[0]!.n), 1, `id ${id}`);
        assert.equal(res.shard, (await lookupRoute(adapter.coord, TABLE, id))!.shard, `id ${id}`);
      }
    } finally {
      await router.close();
    }
    // the guard checks the hash: a row whose hash is outside the shard is refused
    const s0 = r.shards[0]!;
    let stray = 900_000;
    while (inRange(String(hashInt8(BigInt(stray))), s0.lo, s0.hi)) stray++;
    await assert.rejects(
      q(
        pools.get(await urlOf(s0.node)),
        `INSERT INTO public.${TABLE}__${s0.shard} (id, customer_id, amount, payload, updated_at) VALUES ($1, 1, 1, 'x', now())`,
        [stray],
      ),
      /outside shard/,
    );
  });

  test('a hash-keyed table splits, moves, replicates and merges by ranges of the hash under appending writers', async (t) => {
    // split the shard holding the upper half of the hash, move the new half to a third node,
    // replicate the other shard there, move the first half after it and merge the two again
    const r = (await loadRoutes(adapter.coord, TABLE))!;
    const [low, high] = r.shards as [(typeof r.shards)[0], (typeof r.shards)[0]];
    const spare = ['node0', 'node1', 'node2'].find((n) => n !== high.node && n !== low.node)!;
    const start = (await readAll(cfg, TABLE)).rows;
    const load = new AckedLoad(cfg, TABLE, { lo: 0, hi: ROWS, newKeysFrom: 30_000, newKeysTo: 31_000, writers: 2 });
    load.start();
    const steps: [string, Awaited<ReturnType<typeof run>>][] = [];
    try {
      await new Promise((res) => setTimeout(res, 300));
      const outside = await run('split', { partition: high.shard }, { splitAt: String(2 ** 31), newShard: 'hx' });
      assert.equal(outside.status, 'REJECTED');
      assert.match(outside.last.reason ?? '', /outside the key hash's range/);
      steps.push(['split', await run('split', { partition: high.shard }, { splitAt: String(2 ** 30), newShard: 'h2', graceMs: '300' })]);
      steps.push(['move', await run('move', { partition: 'h2', sourceNode: high.node, targetNode: spare }, { graceMs: '300' })]);
      steps.push(['replicate', await run('replicate', { partition: low.shard, sourceNode: low.node, targetNode: spare }, {})]);
      // merged shards share a node: the split's other half follows
      steps.push(['move', await run('move', { partition: high.shard, sourceNode: high.node, targetNode: spare }, { graceMs: '300' })]);
      steps.push(['merge', await run('merge', { partition: high.shard }, { with: 'h2', graceMs: '300' })]);
      await new Promise((res) => setTimeout(res, 300));
    } finally {
      const stats = await load.stop();
      t.diagnostic(`load: ${JSON.stringify({ ...stats, errors: stats.errors.slice(0, 3) })}`);
      assert.equal(stats.writeErrors, 0, `writes failed: ${stats.errors.join('; ')}`);
      assert.equal(stats.readErrors, 0, `reads failed: ${stats.errors.join('; ')}`);
      assert.ok(stats.writes > 20, 'the load ran');
    }
    for (const [name, s] of steps) {
      t.diagnostic(`${name}: rows=${s.last.rowsCopied} ${JSON.stringify(s.last.details)}`);
      assert.equal(s.status, 'SUCCEEDED', `${name}: ${s.last.reason}`);
      assert.equal(s.last.verified, true, name);
      assert.ok((s.last.rowsCopied ?? 0) > 0, `${name} copied rows`);
    }
    await assertStartPlusAcked(load, start);
    const r2 = (await loadRoutes(adapter.coord, TABLE))!;
    assert.deepEqual([r2.keyColumn, r2.keyHash], ['id', true]);
    assert.deepEqual(
      r2.shards.map((s) => [s.shard, s.lo, s.hi, s.node, s.replicas]),
      [
        [low.shard, low.lo, low.hi, low.node, [spare]],
        [high.shard, high.lo, high.hi, spare, []],
      ],
    );
    // the replica's guard entry hashes like its primary's
    const local = await q<{ key_hash: boolean; state: string }>(
      pools.get(await urlOf(spare)),
      'SELECT key_hash, state FROM shardcast_local.shards WHERE physical = $1',
      [`${TABLE}__${low.shard}`],
    );
    assert.deepEqual(local, [{ key_hash: true, state: 'replica' }]);
  });

  test('a hash-keyed table: a second hash is refused; a rekey by the column restores ranges', async () => {
    const before0 = await readAll(cfg, TABLE);
    const again = await run('rekey', {}, { keyColumns: 'id', keyHash: 'true' });
    assert.equal(again.status, 'REJECTED');
    assert.match(again.last.reason ?? '', /already keyed on the hash of id/);

    const back = await run('rekey', {}, { keyColumns: 'id', graceMs: '300' });
    assert.equal(back.status, 'SUCCEEDED', back.last.reason ?? undefined);
    const r2 = (await loadRoutes(adapter.coord, TABLE))!;
    assert.deepEqual([r2.keyColumn, r2.keyHash], ['id', false]);
    const got = await readAll(cfg, TABLE);
    assert.equal(got.misplaced, 0);
    assert.deepEqual(got.duplicates, []);
    assert.deepEqual(diffRows(before0.rows, got.rows), []);
  });
});
