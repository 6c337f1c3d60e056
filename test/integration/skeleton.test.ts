/**
 * The walking skeleton: events published with `shardcast publish queries` travel through every
 * real server: ingest → aggregates → forecasts → decide → commands → executor → results →
 * ClickHouse rows for each stage; every command issued for the table SUCCEEDS; an undecodable
 * message lands in the DLQ and is counted.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClickHouse, queryRows } from '../../analytics/clickhouse.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { openContext } from '../../pipelines/context.js';
import { startIngest } from '../../pipelines/ingest.js';
import { startForecast } from '../../pipelines/forecast.js';
import { startDecide } from '../../pipelines/decide.js';
import { startExecute } from '../../pipelines/execute.js';
import { startSink } from '../../pipelines/sink.js';
import { TOPICS } from '../../schemas/topics.js';
import { cfg as baseCfg, eventually, uniq } from './helpers.js';

const run = promisify(execFile);
const id = uniq('skel').replace(/[^a-z0-9]/g, '_');
const table = `t_${id}`.slice(0, 40);
const source = `src_${id}`;
// Fixed consumer groups: a rerun reads only what arrived since the last run, not the whole history.
const cfg = { ...baseCfg, windowMs: 1000, allowedLatenessMs: 0, partitionKeys: { [table]: { column: 'id', bounds: [500] } } };

after(async () => {
  await dropShardedTable(cfg, table).catch(() => undefined);
});

test('one path through every stage, on the real stack', { timeout: 240_000 }, async () => {
  const startedAt = Date.now();
  await createOrdersTable(cfg, table, [
    { shard: 's0', lo: null, hi: 500, node: 'node0' },
    { shard: 's1', lo: 500, hi: null, node: 'node1' },
  ]);
  const ctx = await openContext('skeleton-test', cfg);
  // what the decide stage said and saw, for the failure message: a run where no command came, or
  // one failed, says why (the CI log shows only the assertion)
  const said: string[] = [];
  const stages = {
    ingest: await startIngest(ctx, { groupId: 'skeleton-test-ingest', idleFlushMs: 500 }),
    forecast: await startForecast(ctx, { groupId: 'skeleton-test-forecast', stepMs: 1000, horizon: 3, checkpointFile: null }),
    // Plan against this run's commands only: commands other tests left on the shared stack
    // must not shape this run's plans (as the demo passes its start).
    decide: await startDecide(ctx, {
      groupId: 'skeleton-test-decide',
      source,
      nodeCapacity: 40,
      warmupWindows: 1,
      historySince: startedAt,
      onDecision: (cmds, explanations) => {
        said.push(
          ...explanations.map((l) => `${new Date().toISOString().slice(11, 23)} ${l}`),
          ...cmds.map((c) => `issued ${c.action} ${c.commandId}`),
        );
        said.splice(0, Math.max(0, said.length - 30));
      },
    }),
    execute: await startExecute(ctx, { groupId: 'skeleton-test-execute' }),
    sink: await startSink(ctx, { groupId: 'skeleton-test-sink' }),
  };
  const why = (err: Error) =>
    new Error(
      `${err.message}\nstage stats: ${JSON.stringify(Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, v.stats])))}\ndecide said (last 30):\n${said.join('\n')}`,
    );
  try {
    // 12 windows of one second, every event at a fixed event time; keys all in shard s1.
    const t0 = Date.now() - 30_000;
    const lines: string[] = [];
    for (let w = 0; w < 12; w++) {
      for (let i = 0; i < 20 + w * 5; i++) {
        lines.push(
          JSON.stringify({
            eventId: `${id}-${w}-${i}`,
            ts: t0 + w * 1000 + i,
            source,
            dialect: 'postgres',
            sql: `SELECT * FROM ${table} WHERE id = ${600 + (i % 50)}`,
            durationMs: 1,
            rowsRead: 1,
          }),
        );
      }
    }
    // A final event just after the last loaded window closes every earlier window; the idle
    // flush closes its own. (It once came 48 windows later: when the forecaster read it in the
    // same batch as the loaded windows, it forecast from there, after 48 empty windows, rightly
    // foresaw no load and the decide stage issued nothing.)
    lines.push(JSON.stringify({ eventId: `${id}-end`, ts: t0 + 12_100, source, sql: `SELECT 1`, dialect: 'postgres' }));
    const file = path.join(os.tmpdir(), `${id}.jsonl`);
    await writeFile(file, `${lines.join('\n')}\n`);
    const { stdout } = await run('node', ['bin/shardcast.js', 'publish', 'queries', '--file', file, '--json'], { env: process.env });
    assert.equal(JSON.parse(stdout).sent, lines.length);
    await ctx.producer.sendRaw(TOPICS.queries.name, [{ key: source, value: Buffer.from(`garbage ${id}`) }]);

    const ch = createClickHouse(cfg);
    const db = cfg.clickhouseDatabase;
    try {
      const count = async (sql: string) => Number((await queryRows<{ c: string }>(ch, sql))[0]?.c ?? 0);
      const aggregated = await eventually(
        async () => {
          const q = await count(`SELECT sum(queries) AS c FROM ${db}.aggregates FINAL WHERE source = '${source}' AND table_name = ''`);
          return q >= lines.length ? q : undefined;
        },
        90_000,
        'aggregates in ClickHouse',
      ).catch((err: Error) => {
        throw why(err);
      });
      // The idle flush closes the last window too: every event is counted exactly once.
      assert.equal(aggregated, lines.length, 'every event is counted exactly once');
      await eventually(
        async () =>
          (await count(`SELECT count() AS c FROM ${db}.forecasts FINAL WHERE series_id LIKE '${source}|%'`)) > 0 ? true : undefined,
        90_000,
        'forecasts',
      ).catch((err: Error) => {
        throw why(err);
      });
      const commandIds = await eventually(
        async () => {
          const rows = await queryRows<{ command_id: string }>(
            ch,
            `SELECT command_id FROM ${db}.commands FINAL WHERE table_name = '${table}'`,
          );
          return rows.length > 0 ? rows.map((r) => r.command_id) : undefined;
        },
        90_000,
        'a command for the table',
      ).catch((err: Error) => {
        throw why(err);
      });
      // Every command the decide stage issued for the table runs to SUCCEEDED: a planned command
      // an executor rejects, or one that fails, is a bug this test reports (with the reason).
      const finals = await eventually(
        async () => {
          const rows = await queryRows<{ command_id: string; status: string; reason: string; ts_ms: string }>(
            ch,
            `SELECT command_id, status, reason, ts_ms FROM ${db}.results FINAL
             WHERE command_id IN (${commandIds.map((c) => `'${c}'`).join(',')}) ORDER BY ts_ms`,
          );
          // a command's outcome: SUCCEEDED if it ever did (a redelivery is then REJECTED as a
          // duplicate), else its last terminal status
          const outcome = new Map<string, { command_id: string; status: string; reason: string }>();
          for (const r of rows) {
            if (!['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED'].includes(r.status)) continue;
            if (outcome.get(r.command_id)?.status !== 'SUCCEEDED') outcome.set(r.command_id, r);
          }
          return outcome.size === commandIds.length ? [...outcome.values()] : undefined;
        },
        120_000,
        `an executor's final result for each of ${commandIds.join(', ')}`,
      ).catch((err: Error) => {
        throw why(err);
      });
      const unsuccessful = finals.filter((r) => r.status !== 'SUCCEEDED').map((r) => `${r.command_id}: ${r.status} ${r.reason}`);
      assert.deepEqual(unsuccessful, [], why(new Error('every command issued for the table succeeded')));
      const dead = await eventually(
        async () =>
          (await count(
            `SELECT count() AS c FROM ${db}.dlq FINAL WHERE value_hex_prefix = '${Buffer.from(`garbage ${id}`).subarray(0, 32).toString('hex')}'`,
          )) === 1
            ? 1
            : undefined,
        60_000,
        'the dead letter',
      );
      assert.equal(dead, 1);
    } finally {
      await ch.close();
    }
  } finally {
    for (const s of Object.values(stages)) await s.stop();
    await ctx.close();
    await sleep(100);
  }
});
