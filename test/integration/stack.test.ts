/**
 * The local stack: after `stackUp`, every service answers its own protocol and `stackStatus`
 * says up; a second `stackUp` is a fast no-op. A service given in the environment (external) is
 * checked the same way, less what only the local stack promises (one broker, the node count). (Bringing the stack down is tested in
 * zz-stack-down.test.ts, which runs last and brings it back up.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@clickhouse/client';
import { Kafka, logLevel } from '../../lib/kafkajs.js';
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { loadConfig } from '../../lib/config.js';
import { stackStatus, stackUp } from '../../infra/stack.js';

const cfg = loadConfig();
const log = (line: string) => process.stderr.write(`  [stack] ${line}\n`);

before(
  async () => {
    await stackUp(cfg, { log });
  },
  { timeout: 15 * 60_000 },
);

test('kafka: admin lists topics', async () => {
  const admin = new Kafka({ clientId: 'stack-test', brokers: cfg.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    assert.ok(Array.isArray(topics));
    const cluster = await admin.describeCluster();
    // the local stack runs one broker; an external cluster (KAFKA_BROKERS) may have more
    if (cfg.external.kafka) assert.ok(cluster.brokers.length >= 1);
    else assert.equal(cluster.brokers.length, 1);
  } finally {
    await admin.disconnect();
  }
});

test('schema registry: GET /subjects answers a JSON array', async () => {
  const res = await fetch(`${cfg.schemaRegistryUrl}/subjects`);
  assert.equal(res.status, 200);
  assert.ok(Array.isArray(await res.json()));
});

test('clickhouse: SELECT version()', async () => {
  const ch = createClient({ url: cfg.clickhouseUrl, username: cfg.clickhouseUser, password: cfg.clickhousePassword });
  try {
    const rows = (await (await ch.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json()) as { v: string }[];
    assert.match(rows[0]!.v, /^\d+\.\d+/);
  } finally {
    await ch.close();
  }
});

test('neo4j: RETURN 1 over Bolt with the configured password', async () => {
  const driver = neo4j.driver(cfg.neo4jUri, neo4j.auth.basic(cfg.neo4jUser, cfg.neo4jPassword));
  try {
    const res = await driver.executeQuery('RETURN 1 AS one');
    assert.equal(Number(res.records[0]!.get('one')), 1);
  } finally {
    await driver.close();
  }
});

test('neo4j: a wrong password is refused (auth is on)', async () => {
  const driver = neo4j.driver(cfg.neo4jUri, neo4j.auth.basic(cfg.neo4jUser, `${cfg.neo4jPassword}-wrong`));
  try {
    await assert.rejects(driver.executeQuery('RETURN 1'), /unauthorized|authentication/i);
  } finally {
    await driver.close();
  }
});

test('postgres: every shard node answers, with logical WAL', async () => {
  // PG_NODES lists external nodes itself; the local stack starts SHARDCAST_PG_NODE_COUNT of them
  if (!cfg.external.postgres) assert.equal(cfg.pgNodes.length, cfg.pgNodeCount);
  for (const url of cfg.pgNodes) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
      assert.equal((await client.query('SHOW wal_level')).rows[0].wal_level, 'logical');
      const ext = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
      assert.equal(ext.rowCount, 1, `${url}: pg_stat_statements extension missing`);
      const who = await client.query('SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user');
      assert.deepEqual(who.rows[0], { rolsuper: true, rolreplication: true });
    } finally {
      await client.end();
    }
  }
});

test('stackStatus reports every service up (or external)', async () => {
  const rows = await stackStatus(cfg);
  assert.equal(rows.length, 4 + cfg.pgNodes.length);
  for (const r of rows) assert.ok(r.state === 'up' || r.state === 'external', `${r.name} is ${r.state} ${r.note ?? ''}`);
});

test('a second stackUp is a quick no-op that keeps the same processes', async () => {
  const before = new Map((await stackStatus(cfg)).map((r) => [r.name, r.pid]));
  const t0 = Date.now();
  const rows = await stackUp(cfg);
  const ms = Date.now() - t0;
  assert.ok(ms < 5000, `warm stackUp took ${ms} ms`);
  for (const r of rows) assert.equal(r.pid, before.get(r.name), `${r.name} was restarted`);
});

after(() => {
  // Nothing to close: the stack stays up for the integration tests that follow.
});
