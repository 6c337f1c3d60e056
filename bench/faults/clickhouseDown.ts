/**
 * ClickHouse SIGKILLed while the sink writes the row's query events, restarted after the
 * outage: the sink holds its backlog, catches up, and the table holds each event once (plain
 * count(), not after merges).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { publish, rowLoad } from './load.js';
import { observeSinkRows } from './observe.js';
import { waitForMembers } from './ingestHarness.js';
import { type Fault, measuredRow } from './row.js';
import { StageProcess } from './stageProcess.js';

const RECOVERY_TIMEOUT_MS = 180_000;
const OUTAGE_MS = 60_000;

export const clickhouseDown: Fault = {
  name: 'clickhouse down during sink',
  services: ['kafka', 'registry', 'clickhouse'],
  async run(env) {
    const load = rowLoad(env.runId, env.t0, env.n);
    const sink = new StageProcess(env.stack.cfg, 'sink', env.runId);
    try {
      await waitForMembers(env.ctx.kafka, `${env.runId}-sink`, 120_000, sink);
      const half = Math.floor(load.events.length / 2);
      await publish(env.ctx, load, 0, half);
      await sleep(2_000);
      await env.stack.kill('clickhouse');
      await publish(env.ctx, load, half);
      const outageMs = env.outageMs ?? OUTAGE_MS;
      await sleep(outageMs);
      await env.stack.up(['clickhouse']);
      const liftedAt = Date.now();
      const observed = await observeSinkRows(env.ctx, env.runId, load.events.length, RECOVERY_TIMEOUT_MS);
      const exited = sink.exitCode !== null ? `sink exited with ${sink.exitCode}` : '';
      return measuredRow(
        clickhouseDown.name,
        observed,
        liftedAt,
        [`down ${Math.round(outageMs / 1000)} s`, exited].filter(Boolean).join('; '),
      );
    } finally {
      await sink.stop();
    }
  },
};
