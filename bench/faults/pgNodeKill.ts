/**
 * A PostgreSQL node SIGKILLed while a command on it runs, restarted 10 s later: the command
 * resumes (it stays RUNNING and is retried) or rolls back, no row lost or doubled. One row per
 * command: the move's and the replica's target node, the split shard's own node, a node of the
 * re-keyed table.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PG_OPS, type PgOp, pgCommandRow } from './pgCommandHarness.js';
import type { Fault } from './row.js';

function pgNodeKill(name: string, op: PgOp, node: 'pg-node1' | 'pg-node2'): Fault {
  const fault: Fault = {
    name,
    services: ['kafka', 'registry', 'pg-node0', 'pg-node1', 'pg-node2'],
    run: (env) =>
      pgCommandRow(env, name, op, async ({ running }) => {
        await running;
        await env.stack.kill(node);
        await sleep(10_000);
        await env.stack.up([node]);
        return Date.now();
      }),
  };
  return fault;
}

export const pgNodeKillMove = pgNodeKill('postgresql target node SIGKILL mid-move', PG_OPS.move, 'pg-node2');
export const pgNodeKillSplit = pgNodeKill("postgresql shard's node SIGKILL mid-split", PG_OPS.split, 'pg-node1');
export const pgNodeKillReplicate = pgNodeKill('postgresql replica node SIGKILL mid-replicate', PG_OPS.replicate, 'pg-node2');
export const pgNodeKillRekey = pgNodeKill('postgresql node SIGKILL mid-rekey', PG_OPS.rekey, 'pg-node1');
