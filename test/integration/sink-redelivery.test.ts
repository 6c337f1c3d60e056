/**
 * The sink stores each record once, also across a crash between its insert and its commit: the
 * group's offsets are moved back after a run (exactly what such a crash leaves behind), more
 * records arrive, and the next run must insert only the new ones. Counted without FINAL, and in
 * the hourly rollup view, which sees every insert and never a merge.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClickHouse, queryRows } from '../../analytics/clickhouse.js';
import { openContext } from '../../pipelines/context.js';
import { startSink } from '../../pipelines/sink.js';
import { TOPICS } from '../../schemas/topics.js';
import type { CommandResult, WorkloadAggregate } from '../../schemas/types.js';
import { provisionTopics } from '../../topics/admin.js';
import { aggregateOf, cfg, eventually, uniq } from './helpers.js';

const id = uniq('redeliver').replace(/[^a-z0-9]/g, '_');
const db = `shardcast_test_${id}`;
const topic = { ...TOPICS.aggregates, name: `shardcast.test.sink.${id}`, partitions: 3 };
const groupId = `shardcast-test-sink-${id}`;
const ch = createClickHouse(cfg);
const T0 = Date.UTC(2026, 0, 1);

const agg = (i: number): WorkloadAggregate =>
  aggregateOf({
    seriesId: `pg|t${i % 7}|k${i}`,
    windowStart: T0 + (i % 50) * 10_000,
    windowEnd: T0 + (i % 50) * 10_000 + 10_000,
    source: 'pg',
    table: `t${i % 7}`,
    keyBucket: `k${i}`,
    node: `node${i % 3}`,
    queries: (i % 13) + 1,
  });

after(async () => {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await ch.close();
});

test('a batch redelivered after a crash between insert and commit is not stored twice', async () => {
  const ctx = await openContext('test-sink-redelivery', cfg);
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await provisionTopics(ctx.kafka, [topic]);
    await ctx.serde.registerTopic(topic);
    const first = Array.from({ length: 3000 }, (_, i) => agg(i));
    const second = Array.from({ length: 1000 }, (_, i) => agg(3000 + i));
    const queriesOf = (aggs: WorkloadAggregate[]) => aggs.reduce((s, a) => s + a.queries, 0);
    const counts = async () => {
      const [r] = await queryRows<{ n: string; q: string }>(ch, `SELECT count() AS n, sum(queries) AS q FROM ${db}.aggregates`);
      const [h] = await queryRows<{ q: string }>(ch, `SELECT sum(queries) AS q FROM ${db}.load_hourly`);
      return { rows: Number(r!.n), queries: Number(r!.q), rollup: Number(h!.q) };
    };
    const run = async (expectConsumed: number) => {
      const sink = await startSink(ctx, { groupId, database: db, topics: [topic.name], aliases: { [topic.name]: TOPICS.aggregates.name } });
      await eventually(
        async () => (sink.stats.consumed >= expectConsumed ? true : undefined),
        60_000,
        `the sink to consume ${expectConsumed}`,
      );
      await eventually(async () => (sink.stats.batches > 0 && sink.stats.handled >= expectConsumed ? true : undefined), 30_000, 'handled');
      await sink.stop();
      await sink.done;
      return sink;
    };

    await ctx.producer.send(
      topic.name,
      first.map((a) => ({ key: a.seriesId, value: a })),
    );
    const one = await run(first.length);
    assert.equal(one.redeliveredSkipped(), 0);
    assert.deepEqual(await counts(), { rows: 3000, queries: queriesOf(first), rollup: queriesOf(first) });

    // What a crash after the inserts and before their commit leaves: offsets behind the tables.
    await admin.resetOffsets({ groupId, topic: topic.name, earliest: true });
    await ctx.producer.send(
      topic.name,
      second.map((a) => ({ key: a.seriesId, value: a })),
    );
    const two = await run(first.length + second.length);
    assert.equal(two.redeliveredSkipped(), first.length, 'every redelivered record recognised');
    const all = [...first, ...second];
    assert.deepEqual(await counts(), { rows: 4000, queries: queriesOf(all), rollup: queriesOf(all) });
  } finally {
    await admin.disconnect();
    await ctx.close();
  }
});

test('a record ClickHouse refuses as data goes to the DLQ with the reason; the rest of its batch is stored once', async () => {
  const ctx = await openContext('test-sink-bad-row', cfg);
  const results = { ...TOPICS.results, name: `shardcast.test.sink.results.${id}`, partitions: 1 };
  try {
    await provisionTopics(ctx.kafka, [results]);
    await ctx.serde.registerTopic(results);
    const result = (i: number, rowsCopied: number): CommandResult => ({
      commandId: `bad-row-${id}-${i}`,
      ts: T0 + i,
      topic: 'shardcast.commands.shard',
      store: 'pg-shards',
      action: 'move',
      status: 'SUCCEEDED',
      progress: 1,
      reason: null,
      rowsCopied,
      bytesMoved: 10,
      verified: true,
      durationMs: 5,
      executor: 'test',
      details: {},
    });
    // a negative count does not fit the UInt64 column: ClickHouse refuses the row
    const sent = [result(0, 1), result(1, 2), result(2, -5), result(3, 4)];
    await ctx.producer.send(
      results.name,
      sent.map((r) => ({ key: r.commandId, value: r })),
    );
    const sink = await startSink(ctx, {
      groupId: `${groupId}-bad-row`,
      database: db,
      topics: [results.name],
      aliases: { [results.name]: TOPICS.results.name },
    });
    await eventually(async () => (sink.stats.handled + sink.stats.deadLettered >= sent.length ? true : undefined), 60_000, 'all four');
    await sink.stop();
    assert.equal(sink.stats.deadLettered, 1, 'the bad record dead-lettered');
    const stored = await queryRows<{ id: string }>(ch, `SELECT command_id AS id FROM ${db}.results ORDER BY id`);
    assert.deepEqual(
      stored.map((r) => r.id),
      [0, 1, 3].map((i) => `bad-row-${id}-${i}`),
      'the good ones stored, each once',
    );
  } finally {
    await ctx.close();
  }
});
