/**
 * The forecast stage scaled out (SHARDCAST_FORECAST_SCALE_OUT=on) gives the forecasts of one
 * instance, on the real broker: the same aggregates, under two source names and on the same
 * partitions (and produce-rate samples, forecast as metric series), go to one scaled instance
 * (in this process) and to two run as child processes.
 * One child is SIGKILLed mid-run, a third is added, and the survivor is frozen (SIGSTOP) past
 * its session timeout and thawed. A read-committed reader of
 * shardcast.forecasts must then see every (series, origin) of the single instance from the
 * several, none twice, with the same forecasts.
 * Run as a child (FORECAST_SCALE_OUT_CHILD set), this file is one scaled instance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { openContext } from '../../pipelines/context.js';
import { startScaledForecast, type ScaledForecastOptions } from '../../pipelines/forecastScaleOut.js';
import type { Forecast, MetricSample, WorkloadAggregate } from '../../schemas/types.js';
import { provisionTopics } from '../../topics/admin.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics } from '../../topics/consumer.js';
import {
  aggregateOf,
  cfg,
  eventually,
  forecastDifference,
  uniq,
  launchChild,
  lastStat,
  isStatLine,
  type ChildInstance,
} from './helpers.js';

const STEP = 60_000;
const SERIES = 12;
/** Metric series (Kafka produce rates of one topic on three nodes): forecast by the metrics shards. */
const NODES = 3;
const WINDOWS = 40;
const SESSION_MS = 8_000;
const base = Math.floor(Date.now() / STEP) * STEP - (WINDOWS + 10) * STEP;
const stageOpts = (topic: string, stateTopic: string, groupId: string, source: string): ScaledForecastOptions => ({
  groupId,
  topic,
  stateTopic,
  stepMs: STEP,
  horizon: 3,
  season: 12,
  sources: [source],
  sessionTimeoutMs: SESSION_MS,
});

async function childMain(): Promise<void> {
  const env = process.env;
  const ctx = await openContext('forecast-scale-out-child', cfg);
  const stage = await startScaledForecast(ctx, stageOpts(env.FSO_TOPIC!, env.FSO_STATE!, env.FSO_GROUP!, env.FSO_SOURCE!));
  const report = setInterval(() => process.stdout.write(`STATS ${stage.forecasts()} ${stage.restored()} ${stage.fencedCount()}\n`), 500);
  stage.done.catch((err: unknown) => process.stdout.write(`FAILED ${(err as Error).message}\n`));
  process.stdout.write('READY\n');
  await new Promise<void>((r) => process.once('SIGTERM', r));
  clearInterval(report);
  await stage.stop();
  await ctx.close();
  process.exit(0);
}

type Instance = ChildInstance;

const launch = (vars: Record<string, string>): Instance =>
  launchChild(fileURLToPath(import.meta.url), { ...vars, FORECAST_SCALE_OUT_CHILD: '1' });

/** The child's last report: forecasts committed, partitions taken over from saved state. */
const forecastsBy = (i: Instance) => lastStat(i, 1);

/** Windows from..to-1 of every series under `source`, each series on its own fixed partition. */
function aggregates(source: string, from: number, to: number) {
  const out: { key: string; value: WorkloadAggregate; partition: number }[] = [];
  for (let w = from; w < to; w++) {
    for (let i = 0; i < SERIES; i++) {
      const seriesId = `${source}|orders|k${i}`;
      const queries = Math.round(40 + 15 * Math.sin((2 * Math.PI * (w + i)) / 12) + 3 * i + ((w * 7 + i) % 5));
      const value = aggregateOf({
        seriesId,
        source,
        table: 'orders',
        keyBucket: `k${i}`,
        windowStart: base + w * STEP,
        windowEnd: base + (w + 1) * STEP,
        queries,
      });
      out.push({ key: seriesId, value, partition: i % TOPICS.aggregates.partitions });
    }
  }
  return out;
}

/** Produce-rate samples of windows from..to-1 under `source`, one node per metrics partition. */
function samples(source: string, from: number, to: number) {
  const out: { key: string; value: MetricSample; partition: number }[] = [];
  for (let w = from; w < to; w++) {
    for (let n = 0; n < NODES; n++) {
      const value = 1000 + 200 * Math.sin((2 * Math.PI * (w + 3 * n)) / 12) + 50 * n + ((w * 3 + n) % 7);
      const ts = base + w * STEP + 1_000;
      out.push({
        key: `${source}|n${n}`,
        value: { ts, source, node: `n${n}`, metric: 'topic.records_in_total', value, labels: {} },
        partition: n % TOPICS.metrics.partitions,
      });
    }
  }
  return out;
}

if (process.env.FORECAST_SCALE_OUT_CHILD) {
  await childMain();
} else {
  test('two scaled forecast instances, one SIGKILLed, one added, one frozen and thawed, give the forecasts of one', {
    timeout: 420_000,
  }, async () => {
    const id = uniq('fso').replace(/[^a-z0-9]/g, '_');
    const one = `${id}_one`;
    const many = `${id}_many`;
    const topic = `shardcast.test.fso_agg_${id}`;
    const stateTopic = `shardcast.test.fso_state_${id}`;
    const ctx = await openContext('forecast-scale-out-test', cfg);
    const topicSpec = { ...TOPICS.aggregates, name: topic };
    await provisionTopics(ctx.kafka, [topicSpec]);
    await ctx.serde.registerTopics([topicSpec]);
    const seen = new Map<string, Forecast[]>();
    const out = await consumeTopics(ctx.kafka, { groupId: uniq('fso-out'), topics: [TOPICS.forecasts.name] });
    const decoding = out.messages$.subscribe((m) => {
      void ctx.serde.decode<Forecast>(m.topic, m.value).then(
        (f) => {
          if (!f.seriesId.startsWith(`${id}_`)) return;
          const k = `${f.seriesId}@${(f.originTs - base) / STEP}`;
          seen.set(k, [...(seen.get(k) ?? []), f]);
        },
        () => undefined,
      );
    });
    const send = async (from: number, to: number) => {
      for (const source of [one, many]) {
        const records = aggregates(source, from, to);
        for (let i = 0; i < records.length; i += 500) await ctx.producer.send(topic, records.slice(i, i + 500));
        await ctx.producer.send(TOPICS.metrics.name, samples(source, from, to));
      }
    };
    const originsOf = (source: string) => [...seen.keys()].filter((k) => k.startsWith(`${source}|`));
    const vars = (n: number) => ({ FSO_TOPIC: topic, FSO_STATE: stateTopic, FSO_GROUP: `${id}-many`, FSO_SOURCE: many, FSO_N: String(n) });
    const instances: Instance[] = [];
    const single = await startScaledForecast(ctx, stageOpts(topic, stateTopic, `${id}-one`, one));
    try {
      instances.push(launch(vars(0)), launch(vars(1)));
      await eventually(async () => (instances.every((i) => i.lines.includes('READY')) ? true : undefined), 120_000, 'two instances ready');
      await send(0, 15);
      // the kill comes when the instances have committed forecasts, with more input in flight
      await eventually(async () => (forecastsBy(instances[0]!) > 0 ? true : undefined), 120_000, 'the first instance forecasting');
      await send(15, 28);
      instances[0]!.child.kill('SIGKILL');
      instances.push(launch(vars(2)));
      await eventually(async () => (instances[2]!.lines.includes('READY') ? true : undefined), 120_000, 'the added instance ready');
      // a zombie: frozen past its session timeout while windows arrive, its partitions move; thawed, it is fenced
      instances[1]!.child.kill('SIGSTOP');
      await send(28, 34);
      await new Promise((r) => setTimeout(r, SESSION_MS + 4_000));
      instances[1]!.child.kill('SIGCONT');
      await send(34, WINDOWS);
      const last = WINDOWS - 2;
      const done = (source: string) =>
        [
          ...Array.from({ length: SERIES }, (_, i) => `${source}|orders|k${i}@${last}`),
          ...Array.from({ length: NODES }, (_, n) => `${source}|n${n}|topic.records_in_total@${last}`),
        ].every((k) => seen.has(k));
      await eventually(
        async () => (done(one) && done(many) ? true : undefined),
        240_000,
        `forecasts from window ${last} in both runs`,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; one: ${originsOf(one).length}, many: ${originsOf(many).length}; children: ${instances.map((i) => i.lines.filter((l) => !isStatLine(l)).join(' / ')).join(' | ')}`,
        );
      });
      // a last look for late duplicates
      await new Promise((r) => setTimeout(r, 3_000));
      for (const i of instances)
        assert.ok(!i.lines.some((l) => l.startsWith('FAILED')), `no instance failed: ${i.lines.filter((l) => l.startsWith('FAILED'))}`);
      const twice = [...seen].filter(([, fs]) => fs.length > 1).map(([k]) => k);
      assert.deepEqual(twice, [], 'no (series, origin) forecast twice');
      const strip = (k: string, source: string) => k.slice(source.length);
      const fromOne = originsOf(one)
        .map((k) => strip(k, one))
        .sort();
      const fromMany = originsOf(many)
        .map((k) => strip(k, many))
        .sort();
      assert.deepEqual(fromMany, fromOne, 'the same (series, origin) from several instances as from one');
      assert.equal(
        fromOne.length,
        (SERIES + NODES) * (WINDOWS - 1),
        'every series (tables and metrics) from every origin but the open window',
      );
      const takenOver = instances.slice(1).reduce((n, i) => n + lastStat(i, 2), 0);
      assert.ok(takenOver > 0, 'partitions moved with their saved state');
      let worst = 0;
      let differing = 0;
      for (const k of fromOne) {
        const a = seen.get(`${one}${k}`)![0]!;
        const d = forecastDifference(a, seen.get(`${many}${k}`)![0]!);
        if (d > 0) differing++;
        worst = Math.max(worst, d);
      }
      process.stdout.write(
        `# ${fromOne.length} (series, origin) from one instance and from ${instances.length} (one SIGKILLed, one frozen; ${takenOver} partitions taken over from saved state); ${differing} forecasts differ, largest relative difference ${worst}\n`,
      );
      assert.ok(worst <= 0.01, `forecasts equal within 1% (largest relative difference ${worst})`);
    } finally {
      decoding.unsubscribe();
      for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
      await Promise.all(
        instances.map((i) =>
          i.child.exitCode === null && i.child.signalCode === null ? new Promise((r) => i.child.once('exit', r)) : null,
        ),
      );
      await single.stop();
      await out.stop({ complete: true });
      const admin = ctx.kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic, stateTopic] }).catch(() => undefined);
      await admin.disconnect();
      await ctx.close();
    }
  });
}
