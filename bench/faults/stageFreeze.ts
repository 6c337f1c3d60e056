/**
 * Ingest frozen with SIGSTOP past its consumer session timeout (30 s), then SIGCONT: the group
 * has moved on without it, its commits fail until it rejoins, and what it fetches again after
 * the rejoin must not be counted twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ingestRow } from './ingestHarness.js';
import type { Fault } from './row.js';

const SESSION_TIMEOUT_MS = 30_000;

export const stageFreeze: Fault = {
  name: 'ingest frozen (SIGSTOP) past its session timeout',
  services: ['kafka', 'registry'],
  run: (env) =>
    ingestRow(env, stageFreeze.name, async (ingest) => {
      await sleep(2_000);
      ingest.signal('SIGSTOP');
      await sleep(SESSION_TIMEOUT_MS + 10_000);
      ingest.signal('SIGCONT');
      return Date.now();
    }),
};
