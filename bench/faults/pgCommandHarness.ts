/**
 * A fault during a PostgreSQL command: a sharded orders table of the row's own (two shards,
 * seeded), `run execute` as a child process, one signed command on shard s0 (move, split or
 * replicate) or on the whole table (rekey), the fault injected once the executor reports it RUNNING, then the command's final
 * result and every row of the table read back and compared with the seeded ones (and, for a
 * replica the routing map lists, its rows compared with its primary's).
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { readAll, readReplicas, seedRows } from '../../demo/workload.js';
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

/** The command a row runs on shard s0 of its table, and where s0 lives before it. */
export interface PgOp {
  action: 'move' | 'split' | 'replicate' | 'rekey';
  /** Node of shard s0 (s1 is on the other of node0 and node1). */
  shardNode: 'node0' | 'node1';
  /** The command, less its id and the common fields; `rows` is the table's size. */
  command: (
    table: string,
    rows: number,
  ) => Omit<
    AnyCommand,
    | 'commandId'
    | 'issuedAt'
    | 'deadline'
    | 'evidence'
    | 'expectedBenefit'
    | 'expectedCost'
    | 'estimatedDurationMs'
    | 'requiresApproval'
    | 'policy'
    | 'explanation'
  >;
}

const common = { store: 'pg-shards', storeKind: 'postgres' } as const;

export const PG_OPS = {
  /** s0 moved from node0 to node2. */
  move: {
    action: 'move',
    shardNode: 'node0',
    command: (table) => ({
      ...common,
      kind: 'shard',
      table,
      partition: 's0',
      sourceNode: 'node0',
      targetNode: 'node2',
      action: 'move',
      params: { graceMs: '500' },
    }),
  },
  /** s0 (on node1, not the coordinator) split at a quarter of the keys; the new shard stays on node1. */
  split: {
    action: 'split',
    shardNode: 'node1',
    command: (table, rows) => ({
      ...common,
      kind: 'partition',
      table,
      partition: 's0',
      action: 'split',
      params: { graceMs: '500', splitAt: String(Math.floor(rows / 4)), newShard: 's2' },
    }),
  },
  /** s0 (on node1) given a read replica on node2. */
  replicate: {
    action: 'replicate',
    shardNode: 'node1',
    command: (table) => ({
      ...common,
      kind: 'shard',
      table,
      partition: 's0',
      sourceNode: 'node1',
      targetNode: 'node2',
      action: 'replicate',
      params: {},
    }),
  },
  /** The whole table (s0 on node1, s1 on node0) re-keyed by customer_id. */
  rekey: {
    action: 'rekey',
    shardNode: 'node1',
    command: (table) => ({
      ...common,
      kind: 'partition',
      table,
      partition: null,
      action: 'rekey',
      params: { keyColumns: 'customer_id', graceMs: '500' },
    }),
  },
} satisfies Record<string, PgOp>;

export interface CommandFault {
  executor: StageProcess;
  /** Resolves when the executor has reported the command RUNNING. */
  running: Promise<void>;
}

/** Runs `op` with `inject` during it; `inject` returns when the fault is lifted (Date.now()). */
export async function pgCommandRow(
  env: FaultEnv,
  fault: string,
  op: PgOp,
  inject: (m: CommandFault) => Promise<number>,
): Promise<FaultRow> {
  const cfg = env.stack.cfg;
  const table = `orders_${env.runId}`;
  const rows = env.n;
  const other = op.shardNode === 'node0' ? 'node1' : 'node0';
  await createOrdersTable(
    cfg,
    table,
    [
      { shard: 's0', lo: null, hi: Math.floor(rows / 2), node: op.shardNode },
      { shard: 's1', lo: Math.floor(rows / 2), hi: null, node: other },
    ],
    { replace: true },
  );
  await seedRows(cfg, table, 0, rows);
  const before = (await readAll(cfg, table)).rows;
  const cmd = {
    ...handMadeFields(Date.now(), 600_000, 'bench-faults', `fault suite: ${op.action} under a fault`),
    ...op.command(table, rows),
    commandId: `${env.runId}-${op.action}`,
  } as AnyCommand;
  const results: (CommandResult & { seenAt: number })[] = [];
  const reader = await consumeTopics(env.ctx.kafka, {
    groupId: `${env.runId}-results`,
    topics: [TOPICS.results.name],
    fromBeginning: true,
  });
  const sub = reader.batches$.subscribe(async (ms) => {
    for (const m of ms) {
      const r = await env.ctx.serde.decode<CommandResult>(m.topic, m.value);
      if (r.commandId === cmd.commandId) results.push({ ...r, seenAt: Date.now() });
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
    await waitFor(() => results.some((r) => FINAL.has(r.status)), RECOVERY_TIMEOUT_MS);
    const final = results.find((r) => FINAL.has(r.status));
    const doneAt = final?.seenAt ?? null;
    await sleep(1_000);
    const after = await readAll(cfg, table);
    const replicas = await readReplicas(cfg, table);
    const accounted = [...before.keys()].filter((id) => after.rows.has(id)).length;
    const notes = [
      `${op.action} ${final?.status ?? 'without a final result'}${final?.reason ? `: ${final.reason}` : ''}`,
      doneAt !== null && doneAt < liftedAt ? 'final before the fault was lifted' : '',
      after.misplaced ? `${after.misplaced} rows on the wrong node` : '',
      replicas.map((r) => `replica of ${r.shard} on ${r.node}: ${r.rows} rows, ${r.missing} missing, ${r.extra} extra`).join('; '),
      results.some((r) => r.status === 'RUNNING') ? '' : 'never reported RUNNING',
      executor.exitCode !== null ? `executor exited with ${executor.exitCode}` : '',
    ];
    return {
      fault,
      status: 'ran',
      eventsIn: before.size,
      accounted,
      // a listed replica missing a row of its primary has lost it for its readers; an extra row is a duplicate
      lost: before.size - accounted + replicas.reduce((n, r) => n + r.missing, 0),
      duplicated: after.duplicates.length + replicas.reduce((n, r) => n + r.extra, 0),
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
