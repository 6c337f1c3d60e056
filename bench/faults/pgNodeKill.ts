/**
 * The move's target PostgreSQL node SIGKILLed while the move runs, restarted 10 s later: the
 * command stays RUNNING and is retried (or rolls back), no row lost or doubled.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { moveRow } from './moveHarness.js';
import type { Fault } from './row.js';

export const pgNodeKill: Fault = {
  name: 'postgresql target node SIGKILL mid-move',
  services: ['kafka', 'registry', 'pg-node0', 'pg-node1', 'pg-node2'],
  run: (env) =>
    moveRow(env, pgNodeKill.name, async ({ running }) => {
      await running;
      await env.stack.kill('pg-node2');
      await sleep(10_000);
      await env.stack.up(['pg-node2']);
      return Date.now();
    }),
};
