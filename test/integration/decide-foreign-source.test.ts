/**
 * A decide stage plans one source. Forecasts of another source on the same topic (a backlog, a
 * replay, a source whose clock runs ahead) must not set its rounds' time: when they did, a round
 * an hour "later" aged this stage's issued commands out and planned the same change again (the
 * skeleton test once saw a second replicate of a shard rejected as "already has a replica").
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { type RunningDecide, startDecide } from '../../pipelines/decide.js';
import { TOPICS } from '../../schemas/topics.js';
import type { AnyCommand } from '../../schemas/types.js';
import { type ConsoleFixture, fixtureDecideOptions, openConsoleFixture, risingForecast, STEP } from './console-fixture.js';
import { decideFromLatest, eventually } from './helpers.js';

let fx: ConsoleFixture | undefined;
let ctx: PipelineContext | undefined;
let decide: RunningDecide | undefined;

after(async () => {
  await decide?.stop().catch(() => undefined);
  await ctx?.close();
  await fx?.cleanup();
});

test("another source's forecasts far ahead do not make the stage plan its issued split again", { timeout: 180_000 }, async () => {
  fx = await openConsoleFixture('dforeign');
  ctx = await openContext('decide-foreign-source-test', fx.cfg);
  const group = `decide-foreign-${fx.id}`;
  await decideFromLatest(ctx.kafka, `${group}-decide`);
  const planned: AnyCommand[] = [];
  let rounds = 0;
  decide = await startDecide(ctx, {
    ...fixtureDecideOptions(fx, group),
    // planned and remembered as issued, published nowhere: no executor takes the split meanwhile
    dryRun: true,
    onDecision: (cmds) => {
      rounds++;
      planned.push(...cmds.filter((c) => 'table' in c && c.table === fx!.table));
    },
  });
  const rising = (origin: number) =>
    ['k1', 'k2'].map((b) => risingForecast(`${fx!.source}|${fx!.table}|${b}`, origin - STEP, origin, 5, 6.5));
  const publish = (fs: ReturnType<typeof rising>) =>
    ctx!.producer.send(
      TOPICS.forecasts.name,
      fs.map((f) => ({ key: f.seriesId, value: f })),
    );
  // The current load too, over capacity as the forecast: a round whose forecasts are stale
  // plans from it.
  const newest = Math.max(...fx.aggregates.map((a) => a.windowStart));
  await ctx.producer.send(
    TOPICS.aggregates.name,
    fx.aggregates
      .filter((a) => a.windowStart === newest)
      .map((a) => ({ ...a, queries: a.queries * 4, reads: a.reads * 4 }))
      .map((a) => ({ key: a.seriesId, value: a })),
  );
  const origin = Math.floor(Date.now() / STEP) * STEP;
  await eventually(
    async () => {
      await publish(rising(origin));
      return planned.find((c) => c.action === 'split');
    },
    90_000,
    `a split of ${fx.table}`,
  );
  const splits = () => planned.filter((c) => c.action === 'split').map((c) => c.commandId);
  const first = splits();
  // An hour ahead, on another source; then this source's next window, still rising.
  const foreign = risingForecast(`other_${fx.id}|${fx.table}|k1`, origin + 3_600_000, origin + 3_600_000 + STEP, 5, 6.5);
  const seen = rounds;
  await publish([foreign]);
  await sleep(2_000);
  await publish(rising(origin + STEP));
  await eventually(async () => (rounds > seen ? true : undefined), 60_000, 'a round on the next window');
  // what that batch may still bring
  await sleep(2_000);
  assert.deepEqual(splits(), first, 'the split in flight is not planned again');
});
