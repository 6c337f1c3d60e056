/**
 * The decide stage obeys operators' controls (stores/postgres/controls.ts) on the real stack:
 * paused in its scope, it plans nothing from forecasts over capacity; resumed with the store's
 * approval mode set to manual, it plans the split at its next round marked as needing approval.
 * The mode is per store and this table's store is the shared pg-shards, so the test puts back
 * what it found whatever happens (integration tests run one file at a time).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { type RunningDecide, startDecide } from '../../pipelines/decide.js';
import { TOPICS } from '../../schemas/topics.js';
import type { AnyCommand } from '../../schemas/types.js';
import { PG_STORE } from '../../processors/decide/postgres/state.js';
import { clearApprovalMode, ensureControls, readControls, setApprovalMode, setDecidePaused } from '../../stores/postgres/controls.js';
import { type ConsoleFixture, fixtureDecideOptions, openConsoleFixture, risingForecast, STEP } from './console-fixture.js';
import { decideFromLatest, eventually } from './helpers.js';

let fx: ConsoleFixture | undefined;
let ctx: PipelineContext | undefined;
let decide: RunningDecide | undefined;
let pool: pg.Pool | undefined;
/** The store's approval mode before the test: put back afterwards. */
let modeBefore: 'auto' | 'manual' | null | undefined;

after(async () => {
  if (pool && modeBefore !== undefined) {
    if (modeBefore === null) await clearApprovalMode(pool, PG_STORE);
    else await setApprovalMode(pool, PG_STORE, modeBefore, 'decide-controls test (restored)');
  }
  await decide?.stop().catch(() => undefined);
  await ctx?.close();
  await pool?.end();
  await fx?.cleanup();
});

test('paused, the decide stage plans nothing; resumed with manual approval, it plans the split held for approval', {
  timeout: 180_000,
}, async () => {
  fx = await openConsoleFixture('dctl');
  pool = new pg.Pool({ connectionString: fx.cfg.pgNodes[0]!, max: 1 });
  await ensureControls(pool);
  await setDecidePaused(pool, fx.id, true, 'tester');
  ctx = await openContext('decide-controls-test', fx.cfg);
  const group = `decide-controls-${fx.id}`;
  await decideFromLatest(ctx.kafka, `${group}-decide`);
  const planned: AnyCommand[] = [];
  decide = await startDecide(ctx, {
    ...fixtureDecideOptions(fx, group),
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

  modeBefore = (await readControls(pool)).approval[PG_STORE]?.mode ?? null;
  await setApprovalMode(pool, PG_STORE, 'manual', 'tester');
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
  assert.equal(split.requiresApproval, true, "the store's manual mode holds it for an operator");
});
