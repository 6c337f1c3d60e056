/**
 * Kafka on the real stack, end to end: records produced to a topic → the metrics collector
 * (Admin API offsets) → shardcast.telemetry.metrics → forecast of the topic's produce rate →
 * the decide stage plans add_topic_partitions → the Kafka executor takes it to SUCCEEDED → the
 * topic has the partitions → the Neo4j catalog records the command as having changed the topic.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createCatalogDriver } from '../../catalog/neo4j.js';
import { openContext } from '../../pipelines/context.js';
import { startCatalog } from '../../pipelines/catalog.js';
import { startKafkaMetrics } from '../../pipelines/collectKafka.js';
import { startDecide } from '../../pipelines/decide.js';
import { startExecute } from '../../pipelines/execute.js';
import { startForecast } from '../../pipelines/forecast.js';
import type { AnyCommand } from '../../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import { ledgerStatuses } from '../../stores/postgres/ledger.js';
import { startGroupsAtEnd } from '../../topics/admin.js';
import { createKafka } from '../../topics/kafka.js';
import { cfg as baseCfg, eventually, uniq } from './helpers.js';

const id = uniq('dk').replace(/[^a-z0-9]/g, '_');
const topic = `it_${id}`;
const cfg = { ...baseCfg, partitionKeys: {} };
const kafka = createKafka(cfg, 'decide-kafka-test');
const admin = kafka.admin();

after(async () => {
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
});

test('a topic forecast over its partitions gets partitions added live, verified and catalogued', { timeout: 300_000 }, async () => {
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const ctx = await openContext('decide-kafka-test', cfg);
  const group = (stage: string) => `${id}-${stage}`;
  await startGroupsAtEnd(ctx.kafka, [
    [group('forecast'), [TOPICS.aggregates.name, TOPICS.metrics.name]],
    [group('decide'), [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]],
    [group('execute'), Object.values(COMMAND_TOPICS)],
    [group('catalog'), [TOPICS.results.name, TOPICS.aggregates.name, ...Object.values(COMMAND_TOPICS)]],
  ]);
  const decided: AnyCommand[] = [];
  const catalog = await startCatalog(ctx, { groupId: group('catalog'), kinds: ['kafka'], discoverEveryMs: 0, fromBeginning: false });
  const metrics = await startKafkaMetrics(cfg, { topics: (t) => t === topic, groups: () => false, intervalMs: 1_000 });
  const forecast = await startForecast(ctx, {
    groupId: group('forecast'),
    stepMs: 1_000,
    horizon: 4,
    checkpointFile: null,
    sources: ['kafka'],
  });
  const decide = await startDecide(ctx, {
    groupId: group('decide'),
    catalog: false,
    warmupWindows: 3,
    // a partition carries 20 records/s here: the 150/s produced below needs several
    kafka: { recordsPerPartitionPerSec: 20, targetUtil: 0.8 },
    onDecision: (cmds) => decided.push(...cmds.filter((c) => c.kind === 'partition' && c.params.topic === topic)),
  });
  const execute = await startExecute(ctx, { groupId: group('execute') });
  const producer = kafka.producer();
  await producer.connect();
  const coord = new pg.Pool({ connectionString: cfg.pgNodes[0]!, max: 1 });
  const driver = createCatalogDriver(cfg);
  try {
    // about 150 records a second until a decision comes (bounded: 60 s)
    const until = Date.now() + 60_000;
    let n = 0;
    while (Date.now() < until && decided.length === 0) {
      await producer.send({ topic, messages: Array.from({ length: 15 }, () => ({ value: `r${n++}` })) });
      await sleep(100);
    }
    assert.ok(metrics.published() > 0, 'the collector published samples');
    assert.ok(decided.length > 0, `a decision for ${topic} within 60 s (forecasts: ${forecast.forecasts()}, reads: ${metrics.reads()})`);
    const c = decided[0]!;
    assert.equal(c.action, 'add_topic_partitions');
    assert.equal(c.evidence.seriesId, `kafka|${topic}|topic.records_in_total`);
    const wanted = Number(c.params.partitions);
    assert.ok(wanted > 1, `more than one partition wanted (${wanted})`);

    const status = await eventually(
      async () => {
        const s = (await ledgerStatuses(coord, [c.commandId])).get(c.commandId);
        return s && ['SUCCEEDED', 'FAILED', 'REJECTED', 'ROLLED_BACK'].includes(s) ? s : undefined;
      },
      60_000,
      `the executor's outcome of ${c.commandId}`,
    );
    assert.equal(status, 'SUCCEEDED');
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(md.topics[0]!.partitions.length, wanted, 'the topic has the partitions the command asked for');

    const recorded = await eventually(
      async () => {
        const { records } = await driver.executeQuery(
          `MATCH (c:Command {id: $id}) OPTIONAL MATCH (c)-[:CHANGED]->(tp:Topic) RETURN c.status AS status, tp.name AS topic`,
          { id: c.commandId },
        );
        const r = records[0];
        return r && r.get('status') === 'SUCCEEDED' && r.get('topic') === topic ? true : undefined;
      },
      60_000,
      'the catalog records the command as SUCCEEDED and as having changed the topic',
    );
    assert.equal(recorded, true);
  } finally {
    await producer.disconnect().catch(() => undefined);
    await metrics.stop();
    for (const s of [forecast, decide, execute, catalog]) await s.stop();
    await coord.end();
    await driver.close();
    await ctx.close();
  }
});
