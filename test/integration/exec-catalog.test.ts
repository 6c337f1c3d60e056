/**
 * Executors validate commands against the Neo4j federation catalog (catalog/validate.ts),
 * through the real stack: a command naming what the catalog does not hold is REJECTED with a
 * catalog reason and changes nothing; a command the catalog has not caught up with yet (a table
 * created after the last discovery, a partition moved by another executor) is accepted after
 * one targeted rediscovery; with Neo4j unreachable, 'required' rejects and 'optional' leaves the
 * decision to the store adapter's own checks.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { seedRows, readAll, rowsChecksum } from '../../demo/workload.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { createCatalogDriver, ensureCatalogSchema } from '../../catalog/neo4j.js';
import { Discovery } from '../../catalog/discover.js';
import { CatalogValidator, type CatalogCheckMode } from '../../catalog/validate.js';
import type { StoreNames } from '../../catalog/sync.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { testCommand } from './commands.js';
import { cfg, uniq } from './helpers.js';

const id = uniq('xcat').replace(/[^a-z0-9]/g, '_');
const T = `t_${id}`.slice(0, 40);
const LATE = `l_${id}`.slice(0, 40);
const NAMES: StoreNames = { postgres: 'pg-shards', clickhouse: 'clickhouse', kafka: 'kafka', clickhouseDatabase: cfg.clickhouseDatabase };

const driver = createCatalogDriver(cfg);
const discovery = Discovery.open(cfg, driver, { kinds: ['postgres'] });
let adapter: PostgresShardAdapter;
let ledger: CommandLedger;
const results: CommandResult[] = [];

const engineWith = (validator: CatalogValidator, name: string) =>
  new ExecutorEngine({
    executorName: name,
    adapters: [adapter],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
    catalogCheck: (cmd) => validator.check(cmd),
  });
const reasonOf = (cmd: AnyCommand) => results.filter((r) => r.commandId === cmd.commandId).at(-1)?.reason ?? '';
const cmd = (
  table: string,
  kind: 'partition' | 'shard',
  action: string,
  fields: Record<string, unknown>,
  params: Record<string, string> = {},
) => testCommand('exec-catalog', table, kind, action, fields, params);

before(async () => {
  await ensureCatalogSchema(driver);
  await createOrdersTable(cfg, T, [
    { shard: 's0', lo: null, hi: 1000, node: 'node0' },
    { shard: 's1', lo: 1000, hi: null, node: 'node1' },
  ]);
  await seedRows(cfg, T, 0, 2000);
  await discovery.discover(discovery.byKind('postgres')!, { table: T });
  adapter = await PostgresShardAdapter.open(cfg, { batchRows: 200, defaultGraceMs: 100 });
  ledger = await CommandLedger.open(cfg.pgNodes[0]!);
});

after(async () => {
  await adapter?.close();
  await ledger?.close();
  await dropShardedTable(cfg, T).catch(() => undefined);
  await dropShardedTable(cfg, LATE).catch(() => undefined);
  await driver
    .executeQuery('MATCH (x) WHERE (x:Table OR x:Partition) AND x.id CONTAINS $id DETACH DELETE x', { id })
    .catch(() => undefined);
  await discovery.close();
  await driver.close();
});

test('what the catalog does not hold is rejected with a catalog reason, and nothing changes', { timeout: 120_000 }, async () => {
  const engine = engineWith(new CatalogValidator(driver, discovery, NAMES, { mode: 'required' }), 'exec-catalog-test');
  const before0 = await loadRoutes(adapter.coord, T);
  const rows0 = await readAll(cfg, T);
  const hostile: [AnyCommand, RegExp][] = [
    [
      cmd(`nosuch_${id}`.slice(0, 40), 'partition', 'split', { partition: 's0' }, { splitAt: '10' }),
      /^catalog: table nosuch_\S+ of pg-shards is not in the catalog/,
    ],
    [cmd(T, 'partition', 'split', { partition: 's7' }, { splitAt: '10' }), /^catalog: partition s7 of \S+ is not in the catalog/],
    [cmd(T, 'partition', 'merge', { partition: 's0' }, { with: 's8' }), /^catalog: partition s8/],
    [
      cmd(T, 'shard', 'move', { partition: 's0', sourceNode: 'node2', targetNode: 'node1' }),
      /^catalog: stale: the catalog has \S+\/s0 on node0, the command moves it from node2/,
    ],
    [
      cmd(T, 'shard', 'move', { partition: 's0', sourceNode: 'node0', targetNode: 'node987' }),
      /^catalog: node node987 of pg-shards is not in the catalog/,
    ],
  ];
  for (const [c, why] of hostile) {
    assert.equal(await engine.run(c), 'REJECTED', `${c.action} ${JSON.stringify(c.params)}`);
    assert.match(reasonOf(c), why);
  }
  const after0 = await loadRoutes(adapter.coord, T);
  assert.equal(after0!.version, before0!.version, 'routing unchanged');
  const rows1 = await readAll(cfg, T);
  assert.equal(rows1.rows.size, rows0.rows.size);
  assert.equal(rowsChecksum(rows1.rows.values()), rowsChecksum(rows0.rows.values()));
});

test('a command the catalog has not caught up with is accepted after one rediscovery', { timeout: 180_000 }, async () => {
  const engine = engineWith(new CatalogValidator(driver, discovery, NAMES, { mode: 'required' }), 'exec-catalog-test');
  // A table created after the last discovery: the first look misses, the rediscovery finds it.
  await createOrdersTable(cfg, LATE, [{ shard: 's0', lo: null, hi: null, node: 'node0' }]);
  await seedRows(cfg, LATE, 0, 500);
  const split = cmd(LATE, 'partition', 'split', { partition: 's0' }, { splitAt: '250' });
  assert.equal(await engine.run(split), 'SUCCEEDED', reasonOf(split));

  // Another executor (no catalog check) moves s1 of T; the catalog still has it on node1.
  const plain = new ExecutorEngine({
    executorName: 'exec-catalog-plain',
    adapters: [adapter],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
  });
  const first = cmd(T, 'shard', 'move', { partition: 's1', sourceNode: 'node1', targetNode: 'node2' });
  assert.equal(await plain.run(first), 'SUCCEEDED', reasonOf(first));
  const { records } = await driver.executeQuery(
    `MATCH (:Table {source: 'pg-shards', name: $t})-[:HAS_PARTITION]->(:Partition {name: 's1'})-[:PLACED_ON {role: 'primary'}]->(n:Node) RETURN n.name AS node`,
    { t: T },
  );
  assert.equal(records[0]?.get('node'), 'node1', 'the catalog has not seen the first move yet');
  // The next move names the store's truth (node2): stale in the graph, right after rediscovery.
  const second = cmd(T, 'shard', 'move', { partition: 's1', sourceNode: 'node2', targetNode: 'node0' });
  assert.equal(await engine.run(second), 'SUCCEEDED', reasonOf(second));
  const routes = await loadRoutes(adapter.coord, T);
  assert.equal(routes!.shards.find((s) => s.shard === 's1')!.node, 'node0');
});

test('Neo4j unreachable: required rejects with the reason, optional leaves it to the store checks', { timeout: 120_000 }, async () => {
  const dead = createCatalogDriver({ ...cfg, neo4jUri: 'bolt://127.0.0.1:1' });
  try {
    const validator = (mode: CatalogCheckMode) =>
      new CatalogValidator(dead, Discovery.open(cfg, dead, { kinds: ['postgres'] }), NAMES, { mode });
    const req = cmd(T, 'partition', 'split', { partition: 's0' }, { splitAt: '500' });
    assert.equal(await engineWith(validator('required'), 'exec-catalog-required').run(req), 'REJECTED');
    assert.match(reasonOf(req), /^the federation catalog \(Neo4j\) is unavailable/);
    // optional: the adapter's routing-map check decides (s9 does not exist in the store either)
    const opt = cmd(T, 'partition', 'split', { partition: 's9' }, { splitAt: '500' });
    assert.equal(await engineWith(validator('optional'), 'exec-catalog-optional').run(opt), 'REJECTED');
    assert.match(reasonOf(opt), /^unknown shard s9/);
    const before0 = await loadRoutes(adapter.coord, T);
    const good = cmd(T, 'partition', 'split', { partition: 's0' }, { splitAt: '500' });
    assert.equal(await engineWith(validator('optional'), 'exec-catalog-optional').run(good), 'SUCCEEDED', reasonOf(good));
    assert.equal((await loadRoutes(adapter.coord, T))!.shards.length, before0!.shards.length + 1);
  } finally {
    await dead.close();
  }
});
