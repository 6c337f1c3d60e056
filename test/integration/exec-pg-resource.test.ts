/**
 * Resource commands on the local stack: scale_out starts a real extra PostgreSQL node and
 * registers it; a shard moves onto it and back; scale_in is refused while it holds a shard and
 * then stops it. In between the node goes down and comes back as with `stack down` and
 * `stack up`, its shard served again. Uses loadConfig().pgNodes and cfg.stackDir.
 */
import { handMadeFields } from '../../schemas/handMadeCommand.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../lib/config.js';
import type { AnyCommand } from '../../schemas/types.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { listNodes, loadRoutes } from '../../stores/postgres/routing.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { readAll, rowsChecksum, seedRows } from '../../demo/workload.js';
import { LocalPgResourceAdapter } from '../../executors/resource/local.js';
import { startManagedNodes, stopManagedNodes } from '../../infra/managedNodes.js';
import type { ExecutionContext } from '../../executors/types.js';

const cfg = loadConfig();
const TABLE = 'exec_pg_res';

async function reachable(): Promise<string | null> {
  for (const url of cfg.pgNodes.slice(0, 2)) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await c.connect();
      await c.end();
    } catch (err) {
      return `PostgreSQL node ${url} unreachable (${(err as Error).message}); start the stack or set PG_NODES`;
    }
  }
  return null;
}
const missing = (await reachable()) ?? (cfg.pgNodes.length < 2 ? 'needs 2 PostgreSQL nodes' : null);

let n = 0;
const base = (kind: string, action: string) => ({
  kind,
  action,
  commandId: `exec-pg-res-${process.pid}-${Date.now()}-${++n}`,
  ...handMadeFields(Date.now(), 600_000, 'test', 'test'),
  store: 'pg-shards',
  storeKind: 'postgres',
});
const resource = (action: 'scale_out' | 'scale_in', node: string | null, params: Record<string, string> = {}) =>
  ({ ...base('resource', action), node, params }) as AnyCommand;
const move = (partition: string, targetNode: string) =>
  ({ ...base('shard', 'move'), table: TABLE, partition, sourceNode: null, targetNode }) as AnyCommand;
const ctx = (): ExecutionContext => ({
  signal: new AbortController().signal,
  resumeFrom: null,
  report: async () => {},
  throttle: async () => {},
  checkpoint: async () => {},
});

describe('local resource adapter: scale_out / scale_in of PostgreSQL nodes', () => {
  before(() => {
    // The test command starts the stack first: PostgreSQL missing here is a failure, not a skip.
    if (missing) assert.fail(missing);
  });
  let res: LocalPgResourceAdapter;
  let pgA: PostgresShardAdapter;
  let added: string | null = null;

  before(async () => {
    res = await LocalPgResourceAdapter.open(cfg);
    pgA = await PostgresShardAdapter.open(cfg, { defaultGraceMs: 100 });
    await createOrdersTable(
      cfg,
      TABLE,
      [
        { shard: 's0', lo: null, hi: 1000, node: 'node0' },
        { shard: 's1', lo: 1000, hi: null, node: 'node1' },
      ],
      { replace: true },
    );
    await seedRows(cfg, TABLE, 0, 3000);
  });

  after(async () => {
    await dropShardedTable(cfg, TABLE).catch(() => {});
    if (added) {
      const left = (await listNodes(pgA.coord)).find((x) => x.node === added);
      if (left?.state === 'active') await res.execute(resource('scale_in', added, { purge: 'true' }), ctx()).catch(() => {});
    }
    await pgA?.close();
    await res?.close();
  });

  test('scale_out starts a node, a shard moves there and back, scale_in stops it', async (t) => {
    const before0 = await readAll(cfg, TABLE);
    const out = resource('scale_out', null);
    assert.equal(await res.validate(out), null);
    const o = await res.execute(out, ctx());
    assert.equal(o.status, 'SUCCEEDED', o.reason);
    added = o.details!.node!;
    t.diagnostic(`scale_out: ${JSON.stringify(o.details)}`);
    const info = (await listNodes(pgA.coord)).find((x) => x.node === added)!;
    assert.equal(info.state, 'active');
    const c = new pg.Client({ connectionString: info.url });
    await c.connect();
    assert.equal((await c.query('SHOW wal_level')).rows[0].wal_level, 'logical');
    await c.end();

    const m = move('s1', added);
    assert.equal(await pgA.validate(m), null);
    const mo = await pgA.execute(m, ctx());
    assert.equal(mo.status, 'SUCCEEDED', mo.reason);
    assert.equal((await loadRoutes(pgA.coord, TABLE))!.shards.find((s) => s.shard === 's1')!.node, added);

    // `stack down` stops the node with the stack; the routing map keeps counting on it, so
    // `stack up` starts it again and its shard is served as before
    assert.deepEqual(await stopManagedNodes(cfg, () => undefined), []);
    const down = new pg.Client({ connectionString: info.url, connectionTimeoutMillis: 2000 });
    await assert.rejects(down.connect(), 'stopped with the stack');
    assert.equal((await listNodes(pgA.coord)).find((x) => x.node === added)!.state, 'active');
    const started: string[] = [];
    assert.deepEqual(await startManagedNodes(cfg, (line) => started.push(line)), []);
    assert.ok(
      started.some((l) => l.startsWith(`${added} (started by scale_out): up`)),
      started.join('\n'),
    );
    assert.equal(rowsChecksum((await readAll(cfg, TABLE)).rows.values()), rowsChecksum(before0.rows.values()), 'its shard is back');
    assert.deepEqual(await startManagedNodes(cfg, () => undefined), [], 'a second start leaves a running node alone');

    assert.match((await res.validate(resource('scale_in', added))) ?? '', /still holds 1 shard/);
    assert.match((await res.validate(resource('scale_in', 'node0'))) ?? '', /belongs to the stack/);
    assert.match((await res.validate(resource('scale_in', 'node77'))) ?? '', /unknown node/);
    assert.match((await res.validate(resource('scale_out', 'node0'))) ?? '', /already running/);

    const back = await pgA.execute(move('s1', 'node1'), ctx());
    assert.equal(back.status, 'SUCCEEDED', back.reason);
    const after0 = await readAll(cfg, TABLE);
    assert.equal(rowsChecksum(after0.rows.values()), rowsChecksum(before0.rows.values()));

    const inCmd = resource('scale_in', added, { purge: 'true' });
    assert.equal(await res.validate(inCmd), null);
    const i = await res.execute(inCmd, ctx());
    assert.equal(i.status, 'SUCCEEDED', i.reason);
    assert.equal((await listNodes(pgA.coord)).find((x) => x.node === added)!.state, 'stopped');
    const probe = new pg.Client({ connectionString: info.url, connectionTimeoutMillis: 2000 });
    await assert.rejects(probe.connect());
    assert.match((await pgA.validate(move('s0', added))) ?? '', /is stopped/);
  });
});
