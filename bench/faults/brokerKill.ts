/** Kafka broker SIGKILLed a few seconds into ingest's work, restarted 15 s later (or after the run's outage). */
import { setTimeout as sleep } from 'node:timers/promises';
import { ingestRow } from './ingestHarness.js';
import type { Fault } from './row.js';

export const brokerKill: Fault = {
  name: 'kafka broker SIGKILL during ingest',
  services: ['kafka', 'registry'],
  run: (env) =>
    ingestRow(env, brokerKill.name, async () => {
      await sleep(3_000);
      await env.stack.kill('kafka');
      await sleep(env.outageMs ?? 15_000);
      await env.stack.up(['kafka']);
      return Date.now();
    }),
};
