/**
 * A fault during a PostgreSQL move: a sharded orders table of the row's own (two shards on
 * node0 and node1, seeded), `run execute` as a child process, one signed command moving shard s0
 * to node2, the fault injected once the executor reports the move RUNNING, then the command's
 * final result and every row of the table read back and compared with the seeded ones.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { readAll, seedRows } from '../../demo/workload.js';
import { KEY_FILES, loadSigningKey } from '../../lib/signingKeys.js';
import { commandOutputs } from '../../pipelines/decide.js';
import { handMadeFields } from '../../schemas/handMadeCommand.js';
import { TOPICS } from '../../schemas/topics.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { consumeTopics } from '../../topics/consumer.js';
import { waitForMembers } from './ingestHarness.js';
import { waitFor } from './observe.js';
import type { FaultEnv, FaultRow } from './row.js';
import { StageProcess } from './stageProcess.js';

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED']);
const RECOVERY_TIMEOUT_MS = 180_000;

export interface MoveFault {
  executor: StageProcess;
  /** Resolves when the executor has reported the move RUNNING. */
  running: Promise<void>;
}

/** Runs `inject` during the move; it returns when the fault is lifted (Date.now()). */
export async function moveRow(env: FaultEnv, fault: string, inject: (m: MoveFault) => Promise<number>): Promise<FaultRow> {
  const cfg = env.stack.cfg;
  const table = `orders_${env.runId}`;
  const rows = env.n;
  await createOrdersTable(
    cfg,
    table,
    [
      { shard: 's0', lo: null, hi: Math.floor(rows / 2), node: 'node0' },
      { shard: 's1', lo: Math.floor(rows / 2), hi: null, node: 'node1' },
    ],
    { replace: true },
  );
  await seedRows(cfg, table, 0, rows);
  const before = (await readAll(cfg, table)).rows;
  const now = Date.now();
  const cmd = {
    kind: 'shard',
    commandId: `${env.runId}-move`,
    ...handMadeFields(now, 600_000, 'bench-faults', 'fault suite: move under a fault'),
    store: 'pg-shards',
    storeKind: 'postgres',
    table,
    partition: 's0',
    sourceNode: 'node0',
    targetNode: 'node2',
    action: 'move',
    params: { graceMs: '500' },
  } as AnyCommand;
  const results: CommandResult[] = [];
  const reader = await consumeTopics(env.ctx.kafka, {
    groupId: `${env.runId}-results`,
    topics: [TOPICS.results.name],
    fromBeginning: true,
  });
  const sub = reader.batches$.subscribe(async (ms) => {
    for (const m of ms) {
      const r = await env.ctx.serde.decode<CommandResult>(m.topic, m.value);
      if (r.commandId === cmd.commandId) results.push(r);
    }
  });
  // the fault stack's own key signs (made on first use); the child is told where its public half is
  const key = await loadSigningKey(cfg);
  const executor = new StageProcess(cfg, 'execute', env.runId, {
    SHARDCAST_COMMAND_VERIFY_KEYS: path.join(cfg.stackDir, 'keys', KEY_FILES.public),
    // the catalog check needs Neo4j, which this row does not start
    SHARDCAST_EXECUTE_CATALOG: 'off',
  });
  try {
    await waitForMembers(env.ctx.kafka, `${env.runId}-execute`, 120_000, executor);
    await env.ctx.producer.sendMany(commandOutputs([cmd], key));
    const running = waitFor(() => results.some((r) => r.status === 'RUNNING'), 120_000).then(() => undefined);
    const liftedAt = await inject({ executor, running });
    const doneAt = await waitFor(() => results.some((r) => FINAL.has(r.status)), RECOVERY_TIMEOUT_MS);
    const final = results.find((r) => FINAL.has(r.status));
    await sleep(1_000);
    const after = await readAll(cfg, table);
    let lost = 0;
    for (const id of before.keys()) if (!after.rows.has(id)) lost++;
    const accounted = [...before.keys()].filter((id) => after.rows.has(id)).length;
    const notes = [
      `move ${final?.status ?? 'without a final result'}${final?.reason ? `: ${final.reason}` : ''}`,
      after.misplaced ? `${after.misplaced} rows on the wrong node` : '',
      results.some((r) => r.status === 'RUNNING') ? '' : 'never reported RUNNING',
      executor.exitCode !== null ? `executor exited with ${executor.exitCode}` : '',
    ];
    return {
      fault,
      status: 'ran',
      eventsIn: before.size,
      accounted,
      lost,
      duplicated: after.duplicates.length,
      recoverySec: doneAt === null ? null : Math.max(0, Math.round((doneAt - liftedAt) / 100) / 10),
      note: notes.filter(Boolean).join('; '),
    };
  } finally {
    await executor.stop();
    sub.unsubscribe();
    await reader.stop();
    await dropShardedTable(cfg, table).catch(() => undefined);
  }
}
