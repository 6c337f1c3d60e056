/**
 * The decide stage obeys operators' pause (stores/postgres/controls.ts) on the real stack:
 * paused in its scope, it plans nothing from forecasts over capacity; resumed, it plans the split
 * at its next round. (Approval modes are per store, and this table's store is the shared
 * pg-shards: setting it here would hold other tests' commands, so the merge of modes into the
 * engine's configuration is a unit test, test/unit/console-views.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { type RunningDecide, startDecide } from '../../pipelines/decide.js';
import { TOPICS } from '../../schemas/topics.js';
import type { AnyCommand } from '../../schemas/types.js';
import { ensureControls, setDecidePaused } from '../../stores/postgres/controls.js';
import { CAPACITY, type ConsoleFixture, openConsoleFixture, risingForecast, STEP } from './console-fixture.js';
import { eventually, startAtLatest } from './helpers.js';

let fx: ConsoleFixture | undefined;
let ctx: PipelineContext | undefined;
let decide: RunningDecide | undefined;
let pool: pg.Pool | undefined;

after(async () => {
  await decide?.stop().catch(() => undefined);
  await ctx?.close();
  await pool?.end();
  await fx?.cleanup();
});

test('paused, the decide stage plans nothing; resumed, it splits the rising range', { timeout: 180_000 }, async () => {
  fx = await openConsoleFixture('dctl');
  pool = new pg.Pool({ connectionString: fx.cfg.pgNodes[0]!, max: 1 });
  await ensureControls(pool);
  await setDecidePaused(pool, fx.id, true, 'tester');
  ctx = await openContext('decide-controls-test', fx.cfg);
  const group = `decide-controls-${fx.id}`;
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await startAtLatest(admin, `${group}-decide`, [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]);
  } finally {
    await admin.disconnect();
  }
  const planned: AnyCommand[] = [];
  decide = await startDecide(ctx, {
    groupId: `${group}-decide`,
    source: fx.source,
    nodeCapacity: CAPACITY,
    warmupWindows: 1,
    decide: fx.decide,
    controlScope: fx.id,
    onDecision: (cmds) => planned.push(...cmds.filter((c) => 'table' in c && c.table === fx!.table)),
  });
  const send = async () => {
    const now = Date.now();
    const fs = ['k1', 'k2'].map((b) => risingForecast(`${fx!.source}|${fx!.table}|${b}`, now - STEP, now, 5, 6.5));
    await ctx!.producer.send(
      TOPICS.forecasts.name,
      fs.map((f) => ({ key: f.seriesId, value: f })),
    );
  };
  // paused: rounds of forecasts over capacity run to their end (their batches committed), no plan
  await eventually(
    async () => {
      await send();
      return decide!.stats.batches >= 3 ? true : undefined;
    },
    60_000,
    'three rounds of the paused stage',
  );
  assert.equal(planned.length, 0, 'nothing planned while paused');

  await setDecidePaused(pool, fx.id, false, 'tester');
  const split = await eventually(
    async () => {
      await send();
      return planned.find((c) => c.action === 'split');
    },
    90_000,
    `a split of ${fx.table} after resuming`,
  );
  assert.equal(split.kind === 'partition' && split.partition, 's0', 'the rising range is split');
});
