/**
 * The forecast stage emits each (series, origin) once, also across a crash between sending a
 * round's forecasts and committing them: the crash is made exactly there (the state save before
 * the commit fails, the stage stops, its transaction is aborted), a second instance takes over
 * from the saved state. A read-committed consumer of shardcast.forecasts must see no (series,
 * origin) twice, and the second instance's models must have observed every window exactly once:
 * the aborted batch again, nothing before it a second time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { openContext } from '../../pipelines/context.js';
import { startForecast } from '../../pipelines/forecast.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics } from '../../topics/consumer.js';
import { aggregateOf, cfg, eventually, uniq } from './helpers.js';

const STEP = 60_000;
const source = uniq('eosrc').replace(/[^a-z0-9]/g, '_');
const series = [`${source}|*|*`, `${source}|orders|k0`, `${source}|orders|k1`];
const base = Math.floor(Date.now() / STEP) * STEP - 60 * STEP;

const aggregate = (seriesId: string, w: number): WorkloadAggregate => {
  const [, table, bucket] = seriesId.split('|');
  return aggregateOf({
    seriesId,
    windowStart: base + w * STEP,
    windowEnd: base + (w + 1) * STEP,
    source,
    table: table === '*' ? null : table!,
    keyBucket: bucket === '*' ? null : bucket!,
    queries: Math.round(30 + 10 * Math.sin((2 * Math.PI * w) / 12) + (seriesId.length % 4)),
  });
};
const windows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => from + i).flatMap((w) => series.map((id) => ({ key: id, value: aggregate(id, w) })));

test('a crash between a round and its commit neither repeats nor loses a forecast', { timeout: 240_000 }, async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shardcast-eo-'));
  const checkpointFile = path.join(dir, 'forecaster.ckpt.json');
  const groupId = uniq('fc-eo-test');
  const ctx = await openContext('forecast-eo-test', cfg);
  const seen = new Map<string, number>();
  const out = await consumeTopics(ctx.kafka, { groupId: uniq('fc-eo-test-out'), topics: [TOPICS.forecasts.name] });
  const decoding = out.messages$.subscribe((m) => {
    void ctx.serde.decode<Forecast>(m.topic, m.value).then(
      (f) => {
        if (!f.seriesId.startsWith(`${source}|`)) return;
        const k = `${f.seriesId}@${(f.originTs - base) / STEP}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      },
      () => undefined, // other producers' records are not this test's business
    );
  });
  const opts = { groupId, stepMs: STEP, horizon: 3, season: 12, checkpointFile, sources: [source] };
  const originsSeen = () => new Set([...seen.keys()].map((k) => Number(k.split('@')[1])));
  try {
    const first = await startForecast(ctx, opts);
    await ctx.producer.send(TOPICS.aggregates.name, windows(0, 20));
    await eventually(async () => (originsSeen().has(18) ? true : undefined), 90_000, 'forecasts from window 18');

    // The crash: the state save before the next commit fails (a directory where the pending file goes).
    await fs.mkdir(`${checkpointFile}.pending`);
    await ctx.producer.send(TOPICS.aggregates.name, windows(20, 24));
    await assert.rejects(first.done, 'the first instance stops at the failed commit');
    await first.stop();
    await fs.rm(`${checkpointFile}.pending`, { recursive: true });

    const second = await startForecast(ctx, opts);
    try {
      // The aborted round again, from the redelivered windows alone: it must be visible once.
      await eventually(async () => (second.forecasts() >= series.length ? true : undefined), 90_000, 'the aborted round redone').catch(
        (err: Error) => {
          throw new Error(
            `${err.message}; second instance: ${JSON.stringify({ stats: second.stats, health: second.health, forecasts: second.forecasts() })}`,
          );
        },
      );
      await ctx.producer.send(TOPICS.aggregates.name, windows(24, 40));
      await eventually(async () => (series.every((id) => seen.has(`${id}@38`)) ? true : undefined), 90_000, 'forecasts from window 38');
    } finally {
      await second.stop();
    }
    const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
    assert.deepEqual(twice, [], 'no (series, origin) forecast twice');
    assert.ok(Math.min(...originsSeen()) <= 18, 'forecasts began before the crash');
    const observed = series.map((id) => second.forecaster.history.get(id)?.observed);
    assert.deepEqual(
      observed,
      series.map(() => 40),
      'windows 0..39 each observed once across the crash',
    );
  } finally {
    decoding.unsubscribe();
    await out.stop({ complete: true });
    await ctx.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
