/** The executor SIGKILLed while a move runs, and started again: the move resumes or rolls back, no row lost or doubled. */
import { PG_OPS, pgCommandRow } from './pgCommandHarness.js';
import type { Fault } from './row.js';

export const executorKill: Fault = {
  name: 'executor SIGKILL mid-move',
  services: ['kafka', 'registry', 'pg-node0', 'pg-node1', 'pg-node2'],
  run: (env) =>
    pgCommandRow(env, executorKill.name, PG_OPS.move, async ({ executor, running }) => {
      await running;
      await executor.killAndRestart();
      return Date.now();
    }),
};
