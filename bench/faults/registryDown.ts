/**
 * Schema registry SIGKILLed during ingest, and ingest SIGKILLed while it is down: the new
 * ingest must wait for the registry (its start and its decoding retry) and then count every
 * event once. The registry comes back after 20 s (or the run's outage).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ingestRow } from './ingestHarness.js';
import type { Fault } from './row.js';

export const registryDown: Fault = {
  name: 'schema registry down during ingest (ingest restarted meanwhile)',
  services: ['kafka', 'registry'],
  run: (env) =>
    ingestRow(env, registryDown.name, async (ingest) => {
      await sleep(2_000);
      await env.stack.kill('registry');
      await ingest.killAndRestart();
      await sleep(env.outageMs ?? 20_000);
      await env.stack.up(['registry']);
      return Date.now();
    }),
};
