/**
 * Ingest and forecast scaled out together give the aggregates and forecasts of one instance
 * each, on the real broker. The same seeded query events feed two chains over private topics:
 * one scaled ingest instance and one scaled forecast instance (in this process), and three
 * ingest and two forecast instances (child processes). Mid-run one ingest and one forecast
 * instance are SIGKILLed and one of each is added. Read committed, the second chain's aggregates
 * must hold each (series, window) once with the first's exact counts, and its forecasts each
 * (series, origin) once, equal to the first's. Equal forecasts need each aggregates partition to
 * see the same sequence in both chains: scaled ingest writes internal partition p's windows to
 * aggregates partition p (pipelines/ingestWindows.ts).
 * Run as a child (CHAIN_CHILD = ingest or forecast), this file is one scaled instance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { openContext } from '../../pipelines/context.js';
import { startScaledIngest, type ScaleOutOptions } from '../../pipelines/ingestScaleOut.js';
import { startScaledForecast, type ScaledForecastOptions } from '../../pipelines/forecastScaleOut.js';
import type { Forecast, QueryEvent, WorkloadAggregate } from '../../schemas/types.js';
import { provisionTopics } from '../../topics/admin.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics } from '../../topics/consumer.js';
import { rng as seeded } from '../../lib/rng.js';
import { cfg, eventually, forecastDifference, queryEvent, uniq, launchChild, lastStat, isStatLine } from './helpers.js';

const N = 12_000;
const SOURCE_PARTITIONS = 3;
const WINDOW = 10_000;
const WINDOWS = 40;
const SPAN = WINDOWS * WINDOW;
const SESSION_MS = 8_000;
const partitionKeys = { orders: { column: 'id', bounds: [500] } };

/** One chain's private topics and groups. */
interface Chain {
  group: string;
  internal: string;
  aggregates: string;
  state: string;
  forecasts: string;
}

const chainOf = (id: string, name: string): Chain => ({
  group: `${id}-${name}`,
  internal: `shardcast.test.chain_routed_${name}_${id}`,
  aggregates: `shardcast.test.chain_agg_${name}_${id}`,
  state: `shardcast.test.chain_state_${name}_${id}`,
  forecasts: `shardcast.test.chain_fc_${name}_${id}`,
});

const ingestOpts = (c: Chain, topic: string): ScaleOutOptions => ({
  groupId: `${c.group}-ingest`,
  topic,
  internalTopic: c.internal,
  aggregatesTopic: c.aggregates,
  windowMs: WINDOW,
  allowedLatenessMs: 5_000,
  partitionIdleMs: 600_000,
  partitionKeys,
  sessionTimeoutMs: SESSION_MS,
});

const forecastOpts = (c: Chain): ScaledForecastOptions => ({
  groupId: `${c.group}-forecast`,
  topic: c.aggregates,
  stateTopic: c.state,
  forecastsTopic: c.forecasts,
  stepMs: WINDOW,
  horizon: 3,
  season: 12,
  metrics: false,
  sessionTimeoutMs: SESSION_MS,
});

async function childMain(): Promise<void> {
  const env = process.env;
  const chain = JSON.parse(env.CHAIN!) as Chain;
  const ctx = await openContext(`scale-out-chain-${env.CHAIN_CHILD}`, { ...cfg, partitionKeys });
  let report: NodeJS.Timeout;
  let stage: { done: Promise<void>; stop(): Promise<void> };
  if (env.CHAIN_CHILD === 'ingest') {
    const ingest = await startScaledIngest(ctx, ingestOpts(chain, env.CHAIN_TOPIC!));
    report = setInterval(() => process.stdout.write(`STATS ${ingest.routed()} ${ingest.sent()}\n`), 500);
    stage = ingest;
  } else {
    const forecast = await startScaledForecast(ctx, forecastOpts(chain));
    // forecasts, restored, then (for a timeout's message) partitions owned and fenced, messages consumed and handled
    report = setInterval(
      () =>
        process.stdout.write(
          `STATS ${forecast.forecasts()} ${forecast.restored()} owned=${forecast.owned().aggregates.join(',')} fenced=${forecast.fencedCount()} consumed=${forecast.stats.consumed} handled=${forecast.stats.handled}\n`,
        ),
      500,
    );
    stage = forecast;
  }
  stage.done.catch((err: unknown) => process.stdout.write(`FAILED ${(err as Error).message}\n`));
  process.stdout.write('READY\n');
  await new Promise<void>((r) => process.once('SIGTERM', r));
  clearInterval(report);
  await stage.stop();
  await ctx.close();
  process.exit(0);
}

/** The seeded workload: two sources on two nodes each, point reads, range updates and inserts. */
function plan(id: string, t0: number): { partition: number; ev: QueryEvent }[] {
  const rng = seeded(11);
  const out: { partition: number; ev: QueryEvent }[] = [];
  for (let i = 0; i < N; i++) {
    const key = Math.floor(rng() * 1000);
    const shape = Math.floor(rng() * 3);
    // a daily-like swell over the span, so the forecasts have something to follow
    const at = Math.floor(SPAN * (i / N) ** (1 + 0.3 * Math.sin(i / 700)));
    const sql =
      shape === 0
        ? `SELECT * FROM orders WHERE id = ${key}`
        : shape === 1
          ? `UPDATE orders SET status = 'x' WHERE id BETWEEN ${key} AND ${Math.min(999, key + 20)}`
          : `INSERT INTO logs (msg) VALUES ('event ${i}')`;
    const ev = queryEvent(`chain-${id}-${i}`, `chain_${id}_s${i % 2}`, {
      ts: t0 + Math.min(SPAN - 1, at),
      sql,
      database: 'shop',
      operation: null,
      node: `n${Math.floor(i / 2) % 2}`,
      durationMs: 0.5 + (key % 53),
      rowsRead: shape === 2 ? 0 : 1 + (i % 3),
      rowsWritten: shape === 0 ? 0 : 1,
      status: 'ok',
    });
    out.push({ partition: i % SOURCE_PARTITIONS, ev });
  }
  return out.sort((a, b) => a.ev.ts - b.ev.ts);
}

if (process.env.CHAIN_CHILD) {
  await childMain();
} else {
  test('three ingest and two forecast instances, one of each SIGKILLed and one added, give the aggregates and forecasts of one', {
    timeout: 480_000,
  }, async () => {
    const id = uniq('chain').replace(/[^a-z0-9]/g, '_');
    const t0 = Math.floor((Date.now() - 3 * 3_600_000) / WINDOW) * WINDOW;
    const topic = `shardcast.test.chain_queries_${id}`;
    const one = chainOf(id, 'one');
    const many = chainOf(id, 'many');
    const ctx = await openContext('scale-out-chain-test', { ...cfg, partitionKeys });
    const querySpec = { ...TOPICS.queries, name: topic, partitions: SOURCE_PARTITIONS };
    const specs = [
      querySpec,
      ...[one, many].flatMap((c) => [
        { ...TOPICS.aggregates, name: c.aggregates },
        { ...TOPICS.forecasts, name: c.forecasts },
      ]),
    ];
    await provisionTopics(ctx.kafka, specs);
    await ctx.serde.registerTopics(specs);

    // Read committed: what both chains produce.
    const aggs = { one: [] as WorkloadAggregate[], many: [] as WorkloadAggregate[] };
    const fcs = { one: [] as Forecast[], many: [] as Forecast[] };
    /** Per aggregates partition, the (series, window) in the order read. */
    const sequences = { one: new Map<number, string[]>(), many: new Map<number, string[]>() };
    const inSequence = (which: 'one' | 'many', partition: number, a: WorkloadAggregate) =>
      sequences[which].set(partition, [...(sequences[which].get(partition) ?? []), `${a.seriesId}@${a.windowStart}`]);
    const watched = new Map<string, (v: unknown, partition: number) => void>([
      [
        one.aggregates,
        (v, p) => {
          aggs.one.push(v as WorkloadAggregate);
          inSequence('one', p, v as WorkloadAggregate);
        },
      ],
      [
        many.aggregates,
        (v, p) => {
          aggs.many.push(v as WorkloadAggregate);
          inSequence('many', p, v as WorkloadAggregate);
        },
      ],
      [one.forecasts, (v) => fcs.one.push(v as Forecast)],
      [many.forecasts, (v) => fcs.many.push(v as Forecast)],
    ]);
    const reader = await consumeTopics(ctx.kafka, { groupId: `${id}-reader`, topics: [...watched.keys()] });
    const reading = reader.batches$.subscribe(async (ms) => {
      for (const m of ms) watched.get(m.topic)!(await ctx.serde.decode(m.topic, m.value), m.partition);
    });

    const events = plan(id, t0);
    const publish = async (from: number, to: number) => {
      const part = events.slice(from, to);
      for (let i = 0; i < part.length; i += 2000)
        await ctx.producer.sendRaw(
          topic,
          part
            .slice(i, i + 2000)
            .map((p) => ({ key: p.ev.source, partition: p.partition, value: ctx.serde.encode(TOPICS.queries.name, p.ev) })),
        );
    };
    const closers = () =>
      ctx.producer.send(
        topic,
        Array.from({ length: SOURCE_PARTITIONS }, (_, p) => ({
          key: `closer-${p}`,
          partition: p,
          value: queryEvent(`chain-closer-${id}-${p}`, `zclose_${id}`, { ts: t0 + SPAN + 60_000 }),
        })),
      );

    const singleIngest = await startScaledIngest(ctx, ingestOpts(one, topic));
    const singleForecast = await startScaledForecast(ctx, forecastOpts(one));
    const launch = (kind: 'ingest' | 'forecast') =>
      launchChild(fileURLToPath(import.meta.url), { CHAIN_CHILD: kind, CHAIN: JSON.stringify(many), CHAIN_TOPIC: topic });
    const ingests = [launch('ingest'), launch('ingest'), launch('ingest')];
    const forecasts = [launch('forecast'), launch('forecast')];
    const all = () => [...ingests, ...forecasts];
    try {
      await eventually(async () => (all().every((i) => i.lines.includes('READY')) ? true : undefined), 180_000, 'five instances ready');
      await publish(0, N / 2);
      await eventually(
        async () => (forecasts.reduce((n, i) => n + lastStat(i, 1), 0) > 0 ? true : undefined),
        180_000,
        'the scaled forecast instances forecasting',
      );
      ingests[0]!.child.kill('SIGKILL');
      forecasts[0]!.child.kill('SIGKILL');
      ingests.push(launch('ingest'));
      forecasts.push(launch('forecast'));
      await publish(N / 2, N);
      await closers();

      const total = (xs: WorkloadAggregate[]) =>
        xs.filter((a) => a.table === null && !a.source.startsWith('zclose')).reduce((n, a) => n + a.queries, 0);
      await eventually(
        async () => (total(aggs.one) >= N && total(aggs.many) >= N ? true : undefined),
        240_000,
        'every window in both chains',
      );
      const keyOf = (f: Forecast) => `${f.seriesId}@${f.originTs}`;
      // the forecasts of the last complete windows follow the aggregates; both chains must have them all
      let lastCount = -1;
      await eventually(
        async () => {
          const mine = new Set(fcs.many.map(keyOf));
          const settled = fcs.one.length === lastCount && fcs.one.length > 0 && fcs.one.every((f) => mine.has(keyOf(f)));
          lastCount = fcs.one.length;
          return settled ? true : undefined;
        },
        240_000,
        'the forecasts of both chains',
      ).catch((err: Error) => {
        const mine = new Set(fcs.many.map(keyOf));
        const seriesMissing = new Set(fcs.one.filter((f) => !mine.has(keyOf(f))).map((f) => f.seriesId));
        const partitionsMissing = [...sequences.one]
          .filter(([, seq]) => seq.some((k) => seriesMissing.has(k.slice(0, k.lastIndexOf('@')))))
          .map(([p]) => p);
        throw new Error(
          `${err.message}: one ${fcs.one.length}, many ${fcs.many.length} (missing forecasts of aggregates partitions ${partitionsMissing.join(',')}); forecast instances last reported: ${forecasts
            .map((i) => i.lines.filter(isStatLine).at(-1) ?? 'nothing')
            .join(' | ')}; children: ${all()
            .map((i) => i.lines.filter((l) => !isStatLine(l)).join(' / '))
            .join(' | ')}`,
        );
      });
      await sleep(3_000); // a duplicate would have arrived by now

      for (const i of all())
        assert.ok(!i.lines.some((l) => l.startsWith('FAILED')), `an instance failed: ${i.lines.filter((l) => l.startsWith('FAILED'))}`);
      const group = <T>(xs: T[], key: (x: T) => string) => {
        const m = new Map<string, T[]>();
        for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
        return m;
      };
      const aggKey = (a: WorkloadAggregate) => `${a.seriesId}@${a.windowStart}`;
      const aOne = group(aggs.one, aggKey);
      const aMany = group(aggs.many, aggKey);
      assert.deepEqual(
        [...aMany].filter(([, v]) => v.length > 1).map(([k]) => k),
        [],
        'no (series, window) twice from the scaled chain',
      );
      assert.deepEqual([...aMany.keys()].sort(), [...aOne.keys()].sort(), 'the same series × windows');
      for (const [k, [a]] of aOne) {
        const b = aMany.get(k)![0]!;
        assert.deepEqual(
          [b.queries, b.reads, b.writes, b.rowsRead, b.rowsWritten],
          [a!.queries, a!.reads, a!.writes, a!.rowsRead, a!.rowsWritten],
          `counts of ${k}`,
        );
      }
      for (const [p, seq] of sequences.one)
        assert.deepEqual(sequences.many.get(p), seq, `aggregates partition ${p} holds the same sequence in both chains`);
      const fOne = group(fcs.one, keyOf);
      const fMany = group(fcs.many, keyOf);
      assert.deepEqual(
        [...fMany].filter(([, v]) => v.length > 1).map(([k]) => k),
        [],
        'no (series, origin) forecast twice',
      );
      assert.deepEqual([...fMany.keys()].sort(), [...fOne.keys()].sort(), 'the same (series, origin)');
      let worst = 0;
      let differing = 0;
      const worstKeys: string[] = [];
      for (const [k, [a]] of fOne) {
        const d = forecastDifference(a!, fMany.get(k)![0]!);
        if (d > 0) differing++;
        if (d > 1e-6 && worstKeys.length < 10) worstKeys.push(`${k} (window ${(a!.originTs - t0) / WINDOW}): ${d}`);
        worst = Math.max(worst, d);
      }
      const takenOver = forecasts.slice(1).reduce((n, i) => n + lastStat(i, 2), 0);
      process.stdout.write(
        `# ${aOne.size} (series, window) and ${fOne.size} (series, origin) from one instance each and from ${ingests.length} ingest and ${forecasts.length} forecast instances (one of each SIGKILLed; ${takenOver} forecast partitions taken over from saved state); ${differing} forecasts differ, largest relative difference ${worst}\n`,
      );
      // the state a partition's new owner loads is the whole forecaster's (models, optimizer,
      // schedule, random stream), so the forecasts are the same to float rounding
      assert.ok(worst <= 1e-6, `forecasts equal (largest relative difference ${worst}): ${worstKeys.join('; ')}`);
    } finally {
      reading.unsubscribe();
      for (const i of all()) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
      await Promise.all(
        all().map((i) => (i.child.exitCode === null && i.child.signalCode === null ? new Promise((r) => i.child.once('exit', r)) : null)),
      );
      await singleIngest.stop().catch(() => undefined);
      await singleForecast.stop().catch(() => undefined);
      await reader.stop();
      const admin = ctx.kafka.admin();
      await admin.connect();
      await admin
        .deleteTopics({ topics: [topic, ...[one, many].flatMap((c) => [c.internal, c.aggregates, c.state, c.forecasts])] })
        .catch(() => undefined);
      await admin.disconnect();
      await ctx.close();
    }
  });
}
