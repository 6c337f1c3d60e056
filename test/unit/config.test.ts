import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../lib/config.js';

test('defaults point at the local stack', () => {
  const c = loadConfig({}, {});
  assert.deepEqual(c.kafkaBrokers, ['127.0.0.1:9092']);
  assert.equal(c.pgNodes.length, 3);
  assert.equal(c.pgNodes[0], 'postgres://shardcast@127.0.0.1:5433/shardcast');
  assert.equal(c.pgNodes[2], 'postgres://shardcast@127.0.0.1:5435/shardcast');
  assert.deepEqual(c.external, { kafka: false, registry: false, clickhouse: false, neo4j: false, postgres: false });
});

test('env overrides mark the service external', () => {
  const c = loadConfig({}, { KAFKA_BROKERS: 'a:1, b:2', PG_NODES: 'postgres://x@h:1/d' });
  assert.deepEqual(c.kafkaBrokers, ['a:1', 'b:2']);
  assert.deepEqual(c.pgNodes, ['postgres://x@h:1/d']);
  assert.equal(c.external.kafka, true);
  assert.equal(c.external.postgres, true);
  assert.equal(c.external.clickhouse, false);
});

test('a bad value is a one-line error naming the env key', () => {
  assert.throws(
    () => loadConfig({}, { SHARDCAST_WINDOW_MS: 'soon' }),
    (err: unknown) =>
      err instanceof ConfigError && /^config: SHARDCAST_WINDOW_MS: .*"soon"/.test(err.message) && !err.message.includes('\n'),
  );
  assert.throws(() => loadConfig({}, { NEO4J_URI: 'http://x' }), /NEO4J_URI/);
  assert.throws(() => loadConfig({}, { CLICKHOUSE_URL: 'not a url' }), /CLICKHOUSE_URL/);
});

test('flags win over env', () => {
  const c = loadConfig({ windowMs: 2000 }, { SHARDCAST_WINDOW_MS: '5000' });
  assert.equal(c.windowMs, 2000);
});

test('ingest fetch sizes: KiB per partition and per fetch, checked', () => {
  assert.deepEqual(loadConfig({}, {}).ingestFetchKiB, { perPartition: 512, total: 1536 });
  assert.deepEqual(loadConfig({}, { SHARDCAST_INGEST_FETCH_KIB: ' 4096, 10240 ' }).ingestFetchKiB, { perPartition: 4096, total: 10240 });
  assert.throws(
    () => loadConfig({}, { SHARDCAST_INGEST_FETCH_KIB: '4096' }),
    /config: SHARDCAST_INGEST_FETCH_KIB: expected "PER_PARTITION,TOTAL"/,
  );
  assert.throws(
    () => loadConfig({}, { SHARDCAST_INGEST_FETCH_KIB: '2048,1024' }),
    /SHARDCAST_INGEST_FETCH_KIB: expected 64 <= PER_PARTITION <= TOTAL/,
  );
  assert.throws(() => loadConfig({}, { SHARDCAST_INGEST_FETCH_KIB: '8,1024' }), /SHARDCAST_INGEST_FETCH_KIB/);
  assert.equal(loadConfig({}, {}).ingestConsumerThread, 'on');
  assert.equal(loadConfig({}, { SHARDCAST_INGEST_CONSUMER_THREAD: 'off' }).ingestConsumerThread, 'off');
  assert.throws(() => loadConfig({}, { SHARDCAST_INGEST_CONSUMER_THREAD: 'yes' }), /SHARDCAST_INGEST_CONSUMER_THREAD/);
});
