/**
 * Ingest rides out a broker outage on the real stack: events go through the ingest pipeline,
 * the stack's Kafka broker is paused (SIGSTOP) while ingest has windows to close and offsets to
 * commit, then resumed; ingest must carry on by itself (no exit, no stall), end `running`, and
 * every event must be counted once: one count per (series, window), equal to what this test
 * computes from the events it sent (a repeated aggregate after a retried send carries the same
 * counts and is replaced downstream by its natural id).
 *
 * The broker is shared with every other user of the local stack: it is paused once, for at most
 * PAUSE_MS, and resumed in `finally` and on process exit whatever happens.
 */
import { test } from 'node:test';
import { queryEvent as buildQueryEvent } from '../../schemas/queryEvent.js';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ourProcess } from '../../infra/service.js';
import { openContext } from '../../pipelines/context.js';
import { startIngest } from '../../pipelines/ingest.js';
import { startMetricsServer } from '../../pipelines/metrics.js';
import type { QueryEvent, WorkloadAggregate } from '../../schemas/types.js';
import { TOPICS } from '../../schemas/topics.js';
import { provisionTopics } from '../../topics/admin.js';
import { consumeTopics } from '../../topics/consumer.js';
import { cfg, eventually, uniq } from './helpers.js';

const N = 4000;
const PARTITIONS = 2;
const WINDOW = 10_000;
const SPAN = 100_000;
/** At most 20 s: the broker is shared. */
const PAUSE_MS = 18_000;
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / WINDOW) * WINDOW;
const id = uniq('outage').replace(/[^a-z0-9]/g, '_');
const topicName = `shardcast.test.queries.${id}`;
const sources = Array.from({ length: 4 }, (_, i) => `outage_${id}_s${i}`);

const events: QueryEvent[] = Array.from({ length: N }, (_, i) =>
  buildQueryEvent({
    eventId: `${id}-${i}`,
    ts: T0 + Math.floor((i * SPAN) / N),
    source: sources[i % sources.length]!,
    dialect: 'postgres',
    database: 'shop',
    sql: `SELECT * FROM orders WHERE id = ${i % 997}`,
    durationMs: 1,
    rowsRead: 1,
  }),
);

/** Queries per (source, window): the whole-source series, which every event counts in once. */
function expected(): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) {
    const k = `${e.source}|*|*@${Math.floor(e.ts / WINDOW) * WINDOW}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

test('ingest rides out a paused broker and counts every event once', { timeout: 300_000 }, async () => {
  const broker = await ourProcess(cfg, 'kafka');
  assert.ok(broker, `no running Kafka broker of the stack at ${cfg.stackDir} (start it with \`shardcast stack up\`)`);
  const ctx = await openContext('ingest-outage-test', cfg);
  const topic = { ...TOPICS.queries, name: topicName, partitions: PARTITIONS };
  await provisionTopics(ctx.kafka, [topic]);
  await ctx.serde.registerTopic(topic);
  const group = `ingest-outage-${id}`;

  const aggs: WorkloadAggregate[] = [];
  const reader = await consumeTopics(ctx.kafka, { groupId: `${group}-aggs`, topics: [TOPICS.aggregates.name], fromBeginning: true });
  reader.batches$.subscribe(async (ms) => {
    for (const m of ms) {
      if (!m.key?.toString().startsWith(`outage_${id}_`)) continue;
      aggs.push(await ctx.serde.decode<WorkloadAggregate>(m.topic, m.value));
    }
  });

  let paused = false;
  const resume = () => {
    if (!paused) return;
    process.kill(broker.pid, 'SIGCONT');
    paused = false;
  };
  process.on('exit', resume);
  const ingest = await startIngest(ctx, {
    groupId: group,
    topic: topicName,
    windowMs: WINDOW,
    allowedLatenessMs: 5_000,
    // windows close after 2 s without events: during the pause ingest has aggregates to send
    idleFlushMs: 2_000,
    partitionIdleMs: 600_000,
    backoff: { initialMs: 200, maxMs: 2_000 },
  });
  const metrics = await startMetricsServer(ctx.kafka, () => [{ pipeline: 'ingest', stage: ingest }], { port: 0, lagCacheMs: 0 });
  let failed: unknown;
  ingest.done.catch((err: unknown) => {
    failed = err;
  });
  const states = new Set<string>();
  const watch = setInterval(() => states.add(ingest.health.state), 50);
  const send = (from: number, to: number) =>
    ctx.producer.send(
      topicName,
      events.slice(from, to).map((e, i) => ({ key: e.source, value: e, partition: (from + i) % PARTITIONS })),
    );
  try {
    await send(0, N / 2);
    await eventually(async () => (ingest.ingest.received >= N / 2 ? true : undefined), 60_000, 'the first half consumed');
    await send(N / 2, N);

    process.kill(broker.pid, 'SIGSTOP');
    paused = true;
    const pausedAt = Date.now();
    await sleep(PAUSE_MS);
    resume();
    const pausedMs = Date.now() - pausedAt;
    assert.ok(pausedMs <= 20_000, `the broker was paused ${pausedMs} ms`);

    const want = expected();
    // a failure ends the wait at once (eventually() would take a throw for "not yet")
    await eventually(
      async () => {
        if (failed) return true;
        const got = new Set(aggs.map((a) => `${a.seriesId}@${a.windowStart}`));
        return [...want.keys()].every((k) => got.has(k)) ? true : undefined;
      },
      150_000,
      'every expected aggregate after the broker came back',
    );
    assert.equal(failed, undefined, `ingest stopped: ${(failed as Error | undefined)?.message}`);
    await sleep(2000); // a repeated aggregate would have arrived by now
    // a rebalance after the pause may hand events over again: counted once is what the aggregates show
    assert.ok(ingest.ingest.received >= N, `ingest received ${ingest.ingest.received} of ${N} events`);
    assert.equal(ingest.health.state, 'running');

    const byKey = new Map<string, number[]>();
    for (const a of aggs) {
      if (a.table !== null) continue;
      const k = `${a.seriesId}@${a.windowStart}`;
      byKey.set(k, [...(byKey.get(k) ?? []), a.queries]);
    }
    for (const [k, qs] of byKey)
      assert.ok(
        qs.every((q) => q === qs[0]),
        `a repeated ${k} carries the same counts: ${qs}`,
      );
    assert.deepEqual([...byKey.keys()].sort(), [...want.keys()].sort(), 'the same series × windows');
    for (const [k, q] of want) assert.equal(byKey.get(k)![0], q, `queries of ${k}`);
    const total = [...byKey.values()].reduce((n, qs) => n + qs[0]!, 0);
    assert.equal(total, N, 'every event counted once');
    // the metrics say so too
    const text = await (await fetch(metrics.url)).text();
    assert.match(text, /^shardcast_pipeline_state\{pipeline="ingest",state="running"\} 1$/m);
    assert.match(text, /^shardcast_pipeline_stalled_seconds\{pipeline="ingest"\} 0$/m);
    const repeated = [...byKey.values()].filter((qs) => qs.length > 1).length;
    process.stderr.write(
      `# broker paused ${pausedMs} ms; ingest states seen: ${[...states].join(', ')}; retries ${ingest.health.retries}; events received ${ingest.ingest.received}; repeated aggregates ${repeated}\n`,
    );
  } finally {
    resume();
    process.off('exit', resume);
    clearInterval(watch);
    await ingest.stop().catch(() => undefined);
    await metrics.close();
    await reader.stop();
    const admin = ctx.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topicName] }).catch(() => undefined);
    await admin.disconnect();
    await ctx.close();
  }
});
