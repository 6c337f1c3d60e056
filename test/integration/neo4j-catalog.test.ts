import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCatalogDriver, ensureCatalogSchema } from '../../catalog/neo4j.js';
import { locateKey, recordCommand, tableId, upsertNode, upsertPartition, upsertSource, upsertTable } from '../../catalog/graph.js';
import { cfg, uniq } from './helpers.js';

const driver = createCatalogDriver(cfg);
const source = uniq('test-pg');
after(async () => {
  await driver.executeQuery('MATCH (s:DataSource {id: $s}) OPTIONAL MATCH (s)-[*1..4]->(x) DETACH DELETE s, x', { s: source });
  await driver.close();
});

test('constraints are created idempotently', async () => {
  await ensureCatalogSchema(driver);
  await ensureCatalogSchema(driver);
  const { records } = await driver.executeQuery('SHOW CONSTRAINTS YIELD name RETURN collect(name) AS names');
  const names = records[0]!.get('names') as string[];
  assert.ok(names.includes('table_id') && names.includes('partition_id') && names.includes('series_id'));
  const idx = await driver.executeQuery('SHOW INDEXES YIELD name RETURN collect(name) AS names');
  const indexes = idx.records[0]!.get('names') as string[];
  for (const n of ['table_name', 'partition_table', 'table_source', 'partition_source', 'topic_source'])
    assert.ok(indexes.includes(n), `index ${n}`);
});

test('the federation graph answers where a key lives, and moves replace the placement', async () => {
  await upsertSource(driver, { id: source, kind: 'oltp', engine: 'postgresql', endpoint: '127.0.0.1:5433' });
  for (const n of ['node0', 'node1']) await upsertNode(driver, source, n, { endpoint: n, capacity: 100 });
  const t = { source, database: 'shardcast', name: 'orders', partitionKey: 'id' };
  await upsertTable(driver, t);
  await upsertTable(driver, t); // idempotent
  await upsertPartition(driver, { source, database: 'shardcast', table: 'orders', name: 'p0', lo: null, hi: 1000, node: 'node0' });
  await upsertPartition(driver, { source, database: 'shardcast', table: 'orders', name: 'p1', lo: 1000, hi: null, node: 'node1' });
  assert.deepEqual(await locateKey(driver, t, 5), [{ partition: 'p0', node: 'node0', role: 'primary' }]);
  assert.deepEqual(await locateKey(driver, t, 5000), [{ partition: 'p1', node: 'node1', role: 'primary' }]);
  await upsertPartition(driver, { source, database: 'shardcast', table: 'orders', name: 'p1', lo: 1000, hi: null, node: 'node0' });
  assert.deepEqual(await locateKey(driver, t, 5000), [{ partition: 'p1', node: 'node0', role: 'primary' }]);
  await recordCommand(driver, { commandId: uniq('cmd'), action: 'move', status: 'SUCCEEDED', explanation: 'test', tableId: tableId(t) });
  const { records } = await driver.executeQuery('MATCH (c:Command)-[:CHANGED]->(t:Table {id: $id}) RETURN count(c) AS n', {
    id: tableId(t),
  });
  assert.equal(records[0]!.get('n'), 1);
});
