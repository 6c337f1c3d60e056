/**
 * A dry run of the decide stage (the demo's control run) plans and reports on the real stack
 * but publishes nothing: forecasts over capacity give it a split, and no command topic grows.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { type RunningDecide, startDecide } from '../../pipelines/decide.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import type { AnyCommand } from '../../schemas/types.js';
import { type ConsoleFixture, fixtureDecideOptions, openConsoleFixture, risingForecast, STEP } from './console-fixture.js';
import { eventually, startAtLatest } from './helpers.js';

let fx: ConsoleFixture | undefined;
let ctx: PipelineContext | undefined;
let decide: RunningDecide | undefined;

after(async () => {
  await decide?.stop().catch(() => undefined);
  await ctx?.close();
  await fx?.cleanup();
});

test('a dry run plans the split and publishes no command', { timeout: 180_000 }, async () => {
  fx = await openConsoleFixture('ddry');
  ctx = await openContext('decide-dry-run-test', fx.cfg);
  const group = `decide-dry-run-${fx.id}`;
  const admin = ctx.kafka.admin();
  await admin.connect();
  // Integration tests run one file at a time: nothing else writes to the command topics meanwhile.
  const ends = async () => {
    let sum = 0;
    for (const topic of Object.values(COMMAND_TOPICS)) for (const p of await admin.fetchTopicOffsets(topic)) sum += Number(p.high);
    return sum;
  };
  try {
    await startAtLatest(admin, `${group}-decide`, [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]);
    const before = await ends();
    const planned: AnyCommand[] = [];
    decide = await startDecide(ctx, {
      ...fixtureDecideOptions(fx, group),
      dryRun: true,
      onDecision: (cmds) => planned.push(...cmds.filter((c) => 'table' in c && c.table === fx!.table)),
    });
    const split = await eventually(
      async () => {
        const now = Date.now();
        const fs = ['k1', 'k2'].map((b) => risingForecast(`${fx!.source}|${fx!.table}|${b}`, now - STEP, now, 5, 6.5));
        await ctx!.producer.send(
          TOPICS.forecasts.name,
          fs.map((f) => ({ key: f.seriesId, value: f })),
        );
        return planned.find((c) => c.action === 'split');
      },
      90_000,
      `a split of ${fx.table}`,
    );
    assert.equal(split.kind === 'partition' && split.partition, 's0', 'the rising range is split');
    assert.ok(decide.commands() >= 1, 'counted as planned');
    // a round's commands are sent in its batch's transaction right after onDecision: time to land
    await sleep(3_000);
    assert.equal(await ends(), before, 'no command topic grew');
  } finally {
    await admin.disconnect();
  }
});
