/**
 * The decide stage emits each command once, also across a crash between sending a round's
 * commands and committing the offsets of the forecasts they came from: the crash is made exactly
 * there (the stage's hook before the commit throws, which stops it with the transaction open).
 * A read-uncommitted consumer sees the crashed instance's copy; a read-committed one, as the
 * executor reads, sees the split once, from the instance that took over.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer } from '../../lib/kafkajs.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { seedRows } from '../../demo/workload.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { startDecide } from '../../pipelines/decide.js';
import type { RunningStage } from '../../pipelines/stage.js';
import type { Forecast, PartitionCommand } from '../../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import { StateError } from '../../lib/errors.js';
import { risingForecast } from './console-fixture.js';
import { cfg as baseCfg, eventually, startAtLatest, uniq } from './helpers.js';

const id = uniq('deo').replace(/[^a-z0-9]/g, '_');
const T = `t_${id}`.slice(0, 40);
const SOURCE = `src_${id}`;
const group = `decide-eo-test-${id}`;
const STEP = 10_000;
const cfg = { ...baseCfg, partitionKeys: { [T]: { column: 'id', bounds: [250, 500, 750, 1000, 1500] } } };

let ctx: PipelineContext | null = null;
const stages: RunningStage[] = [];
const watchers: Consumer[] = [];

after(async () => {
  for (const w of watchers) await w.disconnect().catch(() => undefined);
  for (const s of stages.reverse()) await s.stop().catch(() => undefined);
  await ctx?.close();
  await dropShardedTable(cfg, T).catch(() => undefined);
});

const forecast = (bucket: string, now: number): Forecast => risingForecast(`${SOURCE}|${T}|${bucket}`, now - STEP, now, 5, 6.5, STEP);

test('a crash between sending commands and committing them leaves each command once for read-committed readers', {
  timeout: 240_000,
}, async () => {
  await createOrdersTable(cfg, T, [
    { shard: 's0', lo: null, hi: 1000, node: 'node0' },
    { shard: 's1', lo: 1000, hi: null, node: 'node1' },
  ]);
  await seedRows(cfg, T, 0, 1200);
  ctx = await openContext('decide-eo-test', cfg);
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await startAtLatest(admin, `${group}-decide`, [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]);
    for (const w of ['committed', 'uncommitted']) await startAtLatest(admin, `${group}-watch-${w}`, [COMMAND_TOPICS.partition]);
  } finally {
    await admin.disconnect();
  }
  // Splits of this test's table on the partition command topic, as each kind of reader sees them.
  const seen: Record<'committed' | 'uncommitted', PartitionCommand[]> = { committed: [], uncommitted: [] };
  for (const w of ['committed', 'uncommitted'] as const) {
    const c = ctx.kafka.consumer({ groupId: `${group}-watch-${w}`, readUncommitted: w === 'uncommitted' });
    watchers.push(c);
    await c.connect();
    await c.subscribe({ topics: [COMMAND_TOPICS.partition] });
    const serde = ctx.serde;
    await c.run({
      eachMessage: async ({ topic, message }) => {
        const v = await serde.decode<PartitionCommand>(topic, message.value).catch(() => null);
        if (v?.table === T && v.action === 'split') seen[w].push(v);
      },
    });
  }

  const decideOpts = {
    groupId: `${group}-decide`,
    source: SOURCE,
    nodeCapacity: 100,
    warmupWindows: 1,
    catalog: false,
    decide: {
      stepMs: STEP,
      horizonSteps: 12,
      decideEveryMs: STEP,
      split: { minSizeBytes: 0 },
      actions: ['split' as const, 'move' as const],
    },
  };
  // The first instance crashes at its first commit that carries a command.
  let crashed = false;
  let sent = 0;
  const first = await startDecide(ctx, {
    ...decideOpts,
    onDecision: (cmds) => {
      sent += cmds.length;
    },
    beforeCommit: async () => {
      if (sent > 0 && !crashed) {
        crashed = true;
        throw new StateError('crash injected between the send and the commit');
      }
    },
  });
  stages.push(first);
  const stopped = assert.rejects(first.done, /crash injected/, 'the first instance stops at the failed commit');
  const now = Date.now();
  await ctx.producer.send(
    TOPICS.forecasts.name,
    [forecast('k1', now), forecast('k2', now)].map((f) => ({ key: f.seriesId, value: f })),
  );
  await eventually(
    async () => (crashed && seen.uncommitted.length > 0 ? true : undefined),
    90_000,
    'the first instance sent a split and crashed',
  );
  await stopped;
  await first.stop().catch(() => undefined);

  // The instance that takes over reads the same forecasts again (nothing was committed).
  stages.push(await startDecide(ctx, decideOpts));
  await eventually(async () => (seen.committed.length > 0 ? true : undefined), 90_000, 'a committed split');
  await sleep(5_000); // anything later would show up twice
  assert.equal(seen.committed.length, 1, `splits seen read-committed: ${seen.committed.map((c) => c.commandId).join(', ')}`);
  assert.ok(seen.uncommitted.length >= 2, `the crashed instance's copy was on the topic (read-uncommitted saw ${seen.uncommitted.length})`);
});
