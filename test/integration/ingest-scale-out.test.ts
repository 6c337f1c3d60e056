/**
 * Ingest scaled out (SHARDCAST_INGEST_SCALE_OUT=on) gives the results of one instance, on the
 * real broker: the same seeded events (sources spread over every source partition, two nodes,
 * 1% garbage bytes) go to a single-instance ingest and, under other source names, to three
 * scaled instances run as child processes. One instance is SIGKILLed mid-run and a fourth is
 * added. A read-committed reader of the aggregates must then see, per (series, window), the same
 * exact counts from both, latency quantiles within the sketches' error, no (series, window)
 * twice, and the same dead letters.
 * Run as a child (SCALE_OUT_CHILD set), this file is one scaled instance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { openContext } from '../../pipelines/context.js';
import { startIngest } from '../../pipelines/ingest.js';
import { startScaledIngest } from '../../pipelines/ingestScaleOut.js';
import type { DeadLetter, QueryEvent, RoutedQuery, WorkloadAggregate } from '../../schemas/types.js';
import type { PipelineContext } from '../../pipelines/context.js';
import { provisionTopics } from '../../topics/admin.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics } from '../../topics/consumer.js';
import { rng as seeded } from '../../lib/rng.js';
import { TopicProducer } from '../../topics/producer.js';
import { isFenced } from '../../topics/transactionOutcome.js';
import { cfg, eventually, queryEvent, startAtLatest, uniq, launchChild, lastStat, type ChildInstance } from './helpers.js';

const N = 30_000;
const PARTITIONS = 3;
const WINDOW = 10_000;
const SPAN = 200_000;
const SESSION_MS = 8_000;
const partitionKeys = { orders: { column: 'id', bounds: [250, 500, 750] }, users: { column: 'uid', bounds: [1000] } };
const windowOpts = { windowMs: WINDOW, allowedLatenessMs: 5_000, partitionIdleMs: 600_000, partitionKeys };

async function childMain(): Promise<void> {
  const env = process.env;
  const ctx = await openContext('ingest-scale-out-child', { ...cfg, partitionKeys });
  const ingest = await startScaledIngest(ctx, {
    ...windowOpts,
    groupId: env.SCALE_OUT_GROUP!,
    topic: env.SCALE_OUT_TOPIC!,
    internalTopic: env.SCALE_OUT_INTERNAL!,
    sessionTimeoutMs: SESSION_MS,
  });
  const report = setInterval(() => process.stdout.write(`STATS ${ingest.routed()} ${ingest.sent()} ${ingest.fenced()}\n`), 500);
  ingest.done.catch((err: unknown) => process.stdout.write(`FAILED ${(err as Error).message}\n`));
  process.stdout.write('READY\n');
  await new Promise<void>((r) => process.once('SIGTERM', r));
  clearInterval(report);
  await ingest.stop();
  await ctx.close();
  process.exit(0);
}

type Instance = ChildInstance;

const launch = (vars: Record<string, string>): Instance => launchChild(fileURLToPath(import.meta.url), { ...vars, SCALE_OUT_CHILD: '1' });

const routedBy = (i: Instance) => lastStat(i, 1);

type Planned = { garbage: boolean; partition: number; ev: QueryEvent };

/** The seeded workload under source names starting with `prefix`. */
function plan(prefix: string, t0: number): Planned[] {
  const rng = seeded(7);
  const out: Planned[] = [];
  for (let i = 0; i < N; i++) {
    const key = Math.floor(rng() * 2000);
    const shape = Math.floor(rng() * 4);
    const garbage = rng() < 0.01;
    const sql =
      shape === 0
        ? `SELECT * FROM orders WHERE id = ${key % 1000}`
        : shape === 1
          ? `UPDATE orders SET status = 'x' WHERE id BETWEEN ${key % 1000} AND ${Math.min(999, (key % 1000) + 30)}`
          : shape === 2
            ? `SELECT o.id, u.name FROM orders o JOIN users u ON o.uid = u.uid WHERE u.uid = ${key}`
            : `INSERT INTO logs (msg) VALUES ('event ${i}')`;
    const ev = queryEvent(`${prefix}-${i}`, `${prefix}_s${i % 6}`, {
      ts: t0 + Math.floor((i * SPAN) / N),
      sql,
      database: 'shop',
      operation: null,
      node: `n${Math.floor(i / 6) % 2}`,
      durationMs: 0.5 + (key % 97),
      rowsRead: shape === 3 ? 0 : 1 + (i % 3),
      rowsWritten: shape === 1 || shape === 3 ? 1 : 0,
      status: i % 50 === 0 ? 'error' : 'ok',
    });
    out.push({ garbage, partition: i % PARTITIONS, ev });
  }
  return out;
}

/**
 * Reads the routed topic from its start, read committed, until `valid` events arrived or it stays
 * quiet: the source positions ("partition:offset") routed more than once.
 */
async function routedRepeats(ctx: PipelineContext, topic: string, groupId: string, valid: number): Promise<string[]> {
  const records: (Buffer | null)[] = [];
  const reader = await consumeTopics(ctx.kafka, { groupId, topics: [topic], fromBeginning: true });
  reader.batches$.subscribe((ms) => {
    for (const m of ms) records.push(m.value);
  });
  const seen = new Map<string, number>();
  let events = 0;
  try {
    let read = 0;
    for (let quiet = 0; quiet < 10; ) {
      await sleep(500);
      const upto = records.length;
      for (const v of records.slice(read, upto)) {
        const r = await ctx.serde.decode<RoutedQuery>(TOPICS.routedQueries.name, v);
        if (r.event === null) continue;
        events++;
        const k = `${r.originPartition}:${r.originOffset}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
      const arrived = upto > read;
      read = upto;
      if (!arrived && events >= valid) break;
      quiet = arrived ? 0 : quiet + 1;
    }
  } finally {
    await reader.stop();
  }
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k}×${n}`);
}

if (process.env.SCALE_OUT_CHILD) {
  await childMain();
} else {
  test('a transactional producer fences its predecessor when it connects, before either sends', { timeout: 60_000 }, async () => {
    const id = uniq('fence').replace(/[^a-z0-9]/g, '_');
    const ctx = await openContext('ingest-scale-out-fence-test', cfg);
    const topic = `shardcast.test.fence_${id}`;
    await provisionTopics(ctx.kafka, [{ ...TOPICS.dlq, name: topic }]);
    const commit = { groupId: `${id}-group`, positions: [{ topic, partition: 0, offset: '0' }] };
    // connected in this order, neither having sent: kafkajs alone would register the id only at
    // the first transaction, so the older one, sending first, would fence the newer one instead
    const older = await TopicProducer.connect(ctx.kafka, ctx.serde, { transactionalId: `fence-${id}` });
    const newer = await TopicProducer.connect(ctx.kafka, ctx.serde, { transactionalId: `fence-${id}` });
    try {
      await assert.rejects(older.sendInTransaction([], commit), (err) => isFenced(err), 'the older producer is fenced');
      await newer.sendInTransaction([], commit);
    } finally {
      await older.disconnect().catch(() => undefined);
      await newer.disconnect();
      const admin = ctx.kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
      await ctx.close();
    }
  });

  test('three scaled ingest instances, one SIGKILLed, one frozen and thawed, one added, give the aggregates of one', {
    timeout: 240_000,
  }, async () => {
    const id = uniq('scale').replace(/[^a-z0-9]/g, '_');
    const t0 = Math.floor((Date.now() - 3 * 3_600_000) / WINDOW) * WINDOW;
    const ref = { prefix: `ref_${id}`, topic: `shardcast.test.queries.ref_${id}` };
    const sc = { prefix: `sc_${id}`, topic: `shardcast.test.queries.sc_${id}` };
    const internalTopic = `shardcast.internal.test.routed_${id}`;
    const ctx = await openContext('ingest-scale-out-test', { ...cfg, partitionKeys });
    for (const t of [ref.topic, sc.topic]) {
      const spec = { ...TOPICS.queries, name: t, partitions: PARTITIONS };
      await provisionTopics(ctx.kafka, [spec]);
      await ctx.serde.registerTopic(spec);
    }
    await provisionTopics(ctx.kafka, [{ ...TOPICS.routedQueries, name: internalTopic }]);

    // A read-committed reader of what both produce, from now on.
    const aggs = { ref: [] as WorkloadAggregate[], sc: [] as WorkloadAggregate[] };
    const letters = { ref: [] as DeadLetter[], sc: [] as DeadLetter[] };
    const readerGroup = `${id}-reader`;
    const admin = ctx.kafka.admin();
    await admin.connect();
    await startAtLatest(admin, readerGroup, [TOPICS.aggregates.name, TOPICS.dlq.name]);
    const reader = await consumeTopics(ctx.kafka, { groupId: readerGroup, topics: [TOPICS.aggregates.name, TOPICS.dlq.name] });
    reader.batches$.subscribe(async (ms) => {
      for (const m of ms) {
        if (m.topic === TOPICS.aggregates.name) {
          const k = m.key?.toString() ?? '';
          if (!k.startsWith(ref.prefix) && !k.startsWith(sc.prefix)) continue;
          const a = await ctx.serde.decode<WorkloadAggregate>(m.topic, m.value);
          (k.startsWith(ref.prefix) ? aggs.ref : aggs.sc).push(a);
        } else {
          const l = await ctx.serde.decode<DeadLetter>(m.topic, m.value);
          if (l.sourceTopic === ref.topic) letters.ref.push(l);
          else if (l.sourceTopic === sc.topic) letters.sc.push(l);
        }
      }
    });

    const events = { ref: plan(ref.prefix, t0), sc: plan(sc.prefix, t0) };
    const publish = async (which: 'ref' | 'sc', from: number, to: number) => {
      const topic = which === 'ref' ? ref.topic : sc.topic;
      const part = events[which].slice(from, to);
      for (let i = 0; i < part.length; i += 2000) {
        const chunk = part.slice(i, i + 2000);
        await ctx.producer.sendRaw(
          topic,
          chunk.map((p) => ({
            key: p.ev.source,
            partition: p.partition,
            value: p.garbage ? Buffer.from(`garbage ${p.ev.eventId}`) : ctx.serde.encode(TOPICS.queries.name, p.ev),
          })),
        );
      }
    };
    const closers = async (which: 'ref' | 'sc') => {
      const topic = which === 'ref' ? ref.topic : sc.topic;
      await ctx.producer.send(
        topic,
        Array.from({ length: PARTITIONS }, (_, p) => ({
          key: `closer-${p}`,
          partition: p,
          value: queryEvent(`${which}-closer-${p}`, `zclose_${id}`, { ts: t0 + SPAN + 60_000 }),
        })),
      );
    };

    const single = await startIngest(ctx, { ...windowOpts, groupId: `${id}-single`, topic: ref.topic, consumerThread: false });
    const vars = { SCALE_OUT_GROUP: `${id}-scaled`, SCALE_OUT_TOPIC: sc.topic, SCALE_OUT_INTERNAL: internalTopic };
    const instances: Instance[] = [launch(vars), launch(vars), launch(vars)];
    try {
      await eventually(async () => (instances.every((i) => i.lines.includes('READY')) ? true : undefined), 90_000, 'three instances');
      await publish('ref', 0, N / 2);
      await publish('sc', 0, N / 2);
      // mid-run: some of the first half routed, windows open, transactions under way
      await eventually(
        async () => (instances.reduce((n, i) => n + routedBy(i), 0) >= N / 8 ? true : undefined),
        90_000,
        'the first events routed',
      );
      instances[0]!.child.kill('SIGKILL');
      instances.push(launch(vars));
      // a zombie: frozen past its session timeout while the rest goes on, then thawed; the
      // instances that took its partitions fenced it, so it can commit nothing for them
      instances[1]!.child.kill('SIGSTOP');
      await publish('ref', N / 2, N);
      await publish('sc', N / 2, N);
      await sleep(SESSION_MS + 4_000);
      instances[1]!.child.kill('SIGCONT');
      await closers('ref');
      await closers('sc');

      const valid = events.sc.filter((p) => !p.garbage).length;
      const totalQueries = (xs: WorkloadAggregate[]) => xs.filter((a) => a.table === null).reduce((n, a) => n + a.queries, 0);
      await eventually(
        async () => (totalQueries(aggs.ref) >= valid && totalQueries(aggs.sc) >= valid ? true : undefined),
        150_000,
        'every window of both runs',
      );
      await sleep(3_000); // a duplicate would have arrived by now

      const byKey = (xs: WorkloadAggregate[], prefix: string) => {
        const m = new Map<string, WorkloadAggregate[]>();
        for (const a of xs) {
          const k = `${a.seriesId.slice(prefix.length)}@${a.windowStart}`;
          m.set(k, [...(m.get(k) ?? []), a]);
        }
        return m;
      };
      const one = byKey(aggs.ref, ref.prefix);
      const many = byKey(aggs.sc, sc.prefix);
      assert.deepEqual(
        [...many].filter(([, v]) => v.length > 1).map(([k]) => k),
        [],
        'no (series, window) emitted twice by the scaled instances',
      );
      assert.deepEqual(
        [...one].filter(([, v]) => v.length > 1).map(([k]) => k),
        [],
        'nor by the single one',
      );
      assert.deepEqual([...many.keys()].sort(), [...one.keys()].sort(), 'the same series × windows');
      // the first half alone: each valid source event on the routed topic once (read committed)
      const routedTwice = await routedRepeats(ctx, internalTopic, `${id}-routed-reader`, valid);
      assert.deepEqual(routedTwice, [], 'each source event routed once');
      const off = [...one]
        .filter(([k, [a]]) => a!.table === null && many.get(k)?.[0]?.queries !== a!.queries)
        .map(([k, [a]]) => `${k}: ${many.get(k)?.[0]?.queries} for ${a!.queries}`);
      assert.equal(totalQueries(aggs.sc), valid, `every valid event counted once; off: ${off.slice(0, 12).join(', ')}`);
      const counts = (a: WorkloadAggregate) => ({
        queries: a.queries,
        reads: a.reads,
        writes: a.writes,
        rowsRead: a.rowsRead,
        rowsWritten: a.rowsWritten,
        errors: a.errors,
        unparsed: a.unparsed,
      });
      const near = (x: number | null, y: number | null) =>
        x === y || (x !== null && y !== null && Math.abs(x - y) <= 0.02 * Math.max(x, y));
      for (const [k, [a]] of one) {
        const b = many.get(k)![0]!;
        assert.deepEqual(counts(b), counts(a!), `counts of ${k}`);
        assert.ok(near(a!.latencyP50Ms, b.latencyP50Ms) && near(a!.latencyP99Ms, b.latencyP99Ms), `latency quantiles of ${k}`);
      }
      const garbage = events.sc.filter((p) => p.garbage).length;
      assert.equal(letters.ref.length, garbage, 'single instance: each garbage record dead-lettered once');
      assert.equal(letters.sc.length, garbage, 'scaled: each garbage record dead-lettered once');
      assert.deepEqual(
        letters.sc.map((l) => `${l.sourcePartition}:${l.sourceOffset}`).sort(),
        letters.ref.map((l) => `${l.sourcePartition}:${l.sourceOffset}`).sort(),
        'at the same source positions',
      );
      assert.deepEqual(
        instances.flatMap((i) => i.lines.filter((l) => l.startsWith('FAILED'))),
        [],
        'no instance failed',
      );
      const fenced = lastStat(instances[1]!, 3);
      process.stdout.write(
        `# the thawed instance was fenced on ${fenced} partitions (taking back those still assigned to it until it rejoined)\n`,
      );
      process.stdout.write(
        `# scaled: ${many.size} (series, window) from ${instances.length} instances (one SIGKILLed), equal to one instance's ${one.size}\n`,
      );
    } finally {
      for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
      await Promise.all(
        instances.map((i) =>
          i.child.exitCode === null && i.child.signalCode === null ? new Promise((r) => i.child.once('exit', r)) : null,
        ),
      );
      await single.stop().catch(() => undefined);
      await reader.stop();
      await admin.deleteTopics({ topics: [ref.topic, sc.topic, internalTopic] }).catch(() => undefined);
      await admin.disconnect();
      await ctx.close();
    }
  });
}
