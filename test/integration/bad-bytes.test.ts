/**
 * The bad-bytes corpus (badBytes.ts) among good records on every input topic of the flow, on
 * the real stack, with the stages that read them running: ingest, forecast, execute and sink.
 * Every bad record must end in shardcast.dlq with a reason; every good one is processed (none
 * dead-lettered, query events and metric samples in ClickHouse, a result for the command); no
 * stage fails, and every stage's group commits past the whole corpus (it kept going).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, Consumer } from '../../lib/kafkajs.js';
import { createClickHouse, queryRows } from '../../analytics/clickhouse.js';
import { loadSigningKey } from '../../lib/signingKeys.js';
import { signRecord } from '../../lib/signing.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { startExecute } from '../../pipelines/execute.js';
import { startForecast } from '../../pipelines/forecast.js';
import { startIngest } from '../../pipelines/ingest.js';
import { startSink } from '../../pipelines/sink.js';
import type { RunningStage, StageOutput } from '../../pipelines/stage.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import type { CommandResult, DeadLetter, MetricSample, QueryEvent } from '../../schemas/types.js';
import { buildCorpus, type CorpusRecord } from './badBytes.js';
import { cfg, eventually, ledgerUnreachable, uniq } from './helpers.js';

const unreachable = await ledgerUnreachable();
if (unreachable) throw new Error(unreachable);

const group = uniq('bad-bytes');
const source = group.replace(/[^a-z0-9]/g, '_');
/** The sink's own database: other sinks on the shared stack store these topics too. */
const db = source;
const INPUT = [
  TOPICS.queries.name,
  TOPICS.metrics.name,
  TOPICS.aggregates.name,
  TOPICS.forecasts.name,
  ...Object.values(COMMAND_TOPICS),
  TOPICS.results.name,
];
const stages: { name: string; stage: RunningStage; topics: string[] }[] = [];
let ctx: PipelineContext;
let admin: Admin;
let watcher: Consumer | undefined;

after(async () => {
  for (const s of stages.reverse()) await s.stage.stop().catch(() => undefined);
  await watcher?.disconnect();
  await admin?.disconnect();
  await ctx?.close();
  const ch = createClickHouse(cfg);
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => undefined);
  await ch.close();
});

async function startAtLatest(groupId: string, topics: string[]): Promise<void> {
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId, topic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })) });
  }
}

interface Placed extends CorpusRecord {
  partition: number;
  offset: string;
}
const where = (topic: string, partition: number, offset: string) => `${topic}/${partition}/${offset}`;

test('every bad record of the corpus lands in the DLQ with its reason; the good ones are processed; every stage keeps going', {
  timeout: 480_000,
}, async (t) => {
  const opened = await openContext('bad-bytes-test', cfg);
  // The dead letters of this test's stages, as they are sent (other processes on the shared
  // stack read the same topics and send dead letters of their own).
  const letters = new Map<string, DeadLetter[]>();
  const producer = Object.create(opened.producer) as typeof opened.producer;
  producer.sendMany = async (batches: StageOutput[]) => {
    await opened.producer.sendMany(batches);
    for (const b of batches.filter((x) => x.topic === TOPICS.dlq.name)) {
      for (const { value: l } of b.records as { value: DeadLetter }[]) {
        const k = where(l.sourceTopic, l.sourcePartition, l.sourceOffset);
        letters.set(k, [...(letters.get(k) ?? []), l]);
      }
    }
  };
  ctx = { ...opened, producer };
  admin = ctx.kafka.admin();
  await admin.connect();
  const dlqId = await ctx.serde.registerTopic(TOPICS.dlq);

  const groups = {
    ingest: [TOPICS.queries.name],
    forecast: [TOPICS.aggregates.name],
    execute: Object.values(COMMAND_TOPICS),
    sink: [...INPUT, TOPICS.dlq.name],
  };
  for (const [name, topics] of Object.entries(groups)) await startAtLatest(`${group}-${name}`, topics);
  await startAtLatest(`${group}-watch`, [TOPICS.results.name]);

  const results = new Map<string, CommandResult>();
  watcher = ctx.kafka.consumer({ groupId: `${group}-watch` });
  await watcher.connect();
  await watcher.subscribe({ topics: [TOPICS.results.name] });
  await watcher.run({
    eachMessage: async ({ topic, message }) => {
      const r = await ctx.serde.decode<CommandResult>(topic, message.value).catch(() => null);
      if (r) results.set(r.commandId, r);
    },
  });

  stages.push({ name: 'ingest', topics: groups.ingest, stage: await startIngest(ctx, { groupId: `${group}-ingest`, idleFlushMs: 2_000 }) });
  stages.push({
    name: 'forecast',
    topics: groups.forecast,
    stage: await startForecast(ctx, { groupId: `${group}-forecast`, checkpointFile: null }),
  });
  stages.push({
    name: 'execute',
    topics: groups.execute,
    stage: await startExecute(ctx, { groupId: `${group}-execute`, catalogCheck: 'off' }),
  });
  stages.push({ name: 'sink', topics: groups.sink, stage: await startSink(ctx, { groupId: `${group}-sink`, database: db }) });

  // Made now, so that the good records' event times are current for ingest's windows; sent one
  // record per request, so each one's partition and offset are known.
  const corpus = buildCorpus(ctx.serde, source, `${group}-cmd`, dlqId);
  const key = await loadSigningKey(cfg);
  const raw = ctx.kafka.producer();
  await raw.connect();
  const placed: Placed[] = [];
  try {
    for (const r of corpus) {
      const headers = r.command ? signRecord(key, r.topic, r.value, Date.now()) : undefined;
      const [meta] = await raw.send({ topic: r.topic, messages: [{ key: source, value: r.value, ...(headers ? { headers } : {}) }] });
      placed.push({ ...r, partition: meta!.partition, offset: meta!.baseOffset! });
    }
  } finally {
    await raw.disconnect();
  }
  const bad = placed.filter((p) => !p.good);
  const good = placed.filter((p) => p.good);
  assert.ok(bad.length >= 100, `a corpus of ${bad.length} bad records`);
  assert.deepEqual(new Set(placed.map((p) => p.topic)), new Set(INPUT), 'every input topic has its corpus');

  await eventually(
    async () => (bad.every((b) => letters.has(where(b.topic, b.partition, b.offset))) ? true : undefined),
    240_000,
    'a dead letter for every bad record',
  ).catch((err: Error) => {
    const missing = bad.filter((b) => !letters.has(where(b.topic, b.partition, b.offset))).map((b) => `${b.topic}: ${b.case}`);
    throw new Error(`${err.message}; missing: ${missing.join('; ')}`);
  });
  for (const b of bad) {
    const ls = letters.get(where(b.topic, b.partition, b.offset))!;
    assert.ok(
      ls.every((l) => l.reason.length > 0 && l.stage.length > 0),
      `${b.topic} ${b.case}: a reason`,
    );
    t.diagnostic(
      `${b.topic} | ${b.case} | ${[...new Set(ls.map((l) => `${l.pipeline}/${l.stage}: ${l.reason.slice(0, 90)}`))].join(' ; ')}`,
    );
  }
  for (const g of good)
    assert.ok(
      !letters.has(where(g.topic, g.partition, g.offset)),
      `${g.topic}: a good record was dead-lettered: ${JSON.stringify(letters.get(where(g.topic, g.partition, g.offset)))}`,
    );

  // The good ones went through: query events and metric samples in ClickHouse, a result for the command.
  const goodCommandIds: string[] = [];
  for (const g of good.filter((x) => x.command)) {
    const v = await ctx.serde.decode<{ commandId: string }>(g.topic, g.value);
    goodCommandIds.push(v.commandId);
  }
  await eventually(
    async () => (goodCommandIds.every((id) => results.has(id)) ? true : undefined),
    120_000,
    'a result for every good command',
  );
  const ch = createClickHouse(cfg);
  try {
    const goodQueries = await Promise.all(
      good.filter((g) => g.topic === TOPICS.queries.name).map((g) => ctx.serde.decode<QueryEvent>(g.topic, g.value)),
    );
    const goodMetrics = await Promise.all(
      good.filter((g) => g.topic === TOPICS.metrics.name).map((g) => ctx.serde.decode<MetricSample>(g.topic, g.value)),
    );
    let seen = 'nothing yet';
    await eventually(
      async () => {
        const [q] = await queryRows<{ n: string }>(ch, `SELECT count() AS n FROM ${db}.query_events FINAL WHERE source = '${source}'`);
        const [m] = await queryRows<{ n: string }>(ch, `SELECT count() AS n FROM ${db}.metric_samples FINAL WHERE source = '${source}'`);
        seen = `${q?.n} query events, ${m?.n} metric samples`;
        return Number(q?.n) === goodQueries.length && Number(m?.n) === goodMetrics.length ? true : undefined;
      },
      60_000,
      `the ${goodQueries.length} good query events and ${goodMetrics.length} metric samples in ClickHouse, and only those`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; found ${seen}`);
    });
  } finally {
    await ch.close();
  }

  // Every stage is alive and committed past the whole corpus on each of its topics.
  for (const s of stages) {
    assert.notEqual(s.stage.health?.state, 'failed', `${s.name} failed: ${s.stage.health?.lastError}`);
    const last = new Map<string, bigint>();
    for (const p of placed.filter((x) => s.topics.includes(x.topic))) {
      const k = `${p.topic}/${p.partition}`;
      if ((last.get(k) ?? -1n) < BigInt(p.offset)) last.set(k, BigInt(p.offset));
    }
    await eventually(
      async () => {
        for (const topic of s.topics) {
          const [committed] = await admin.fetchOffsets({ groupId: `${group}-${s.name}`, topics: [topic] });
          for (const p of committed?.partitions ?? []) {
            const want = last.get(`${topic}/${p.partition}`);
            if (want !== undefined && BigInt(p.offset) <= want) return undefined;
          }
        }
        return true;
      },
      60_000,
      `${s.name} committed past the corpus`,
    );
  }
  const counts = Object.fromEntries(stages.map((s) => [s.name, s.stage.stats.deadLettered]));
  t.diagnostic(`bad ${bad.length}, good ${good.length}, dead letters per stage ${JSON.stringify(counts)}`);
});
