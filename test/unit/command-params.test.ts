/**
 * The command contract (schemas/commandParams.ts) against both of its sides: every planner of
 * the decide stage, on a scenario that makes it plan, plans commands that fit it; and the
 * executor engine rejects a command that does not fit, with the field and what was expected,
 * before any adapter is asked about it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOW } from './decide-helpers.js';
import { commandActions, commandParamsReason } from '../../schemas/commandParams.js';
import { ExecutorEngine } from '../../executors/engine.js';
import type { CommandLedger } from '../../executors/ledger.js';
import type { StoreAdapter } from '../../executors/types.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';

test('the contract names the field and what was expected', () => {
  const base = { table: 't', partition: 's0', sourceNode: null, targetNode: null, node: null };
  assert.equal(commandParamsReason({ ...base, kind: 'shard', action: 'move', targetNode: 'node1', params: {} }), null);
  assert.match(
    commandParamsReason({ ...base, kind: 'shard', action: 'dereplicate', sourceNode: 'node1', params: {} }) ?? '',
    /targetNode: missing: targetNode, the node whose replica is dropped/,
  );
  assert.match(
    commandParamsReason({ ...base, kind: 'partition', action: 'precompute', params: { templateId: 'x', name: 'sc_mv_x' } }) ?? '',
    /params\.template: missing: template \(one of count_by, sum_by, daily_sum\).*params\.groupBy: missing/,
  );
  assert.match(
    commandParamsReason({ ...base, kind: 'partition', action: 'precompute', params: { template: 'sum_by', groupBy: 'g' } }) ?? '',
    /params\.value: missing/,
  );
  assert.match(
    commandParamsReason({ ...base, kind: 'partition', action: 'split', params: { splitAt: '1; DROP TABLE t' } }) ?? '',
    /params\.splitAt: expected splitAt \(an integer key\)/,
  );
  assert.match(commandParamsReason({ ...base, kind: 'shard', action: 'teleport' as never, params: {} }) ?? '', /not an action/);
  assert.ok(commandActions().length >= 14);
});

/** A ledger in memory: the engine's bookkeeping, no store behind it. */
function memoryLedger(): CommandLedger {
  const rows = new Map<string, { commandId: string; status: string; state: Record<string, string>; attempts: number; approval: null }>();
  return {
    get: async (id: string) => rows.get(id) ?? null,
    claim: async (id: string) => {
      const prior = rows.get(id) ?? null;
      rows.set(id, { commandId: id, status: 'ACCEPTED', state: {}, attempts: (prior?.attempts ?? 0) + 1, approval: null });
      return prior;
    },
    setStatus: async (id: string, status: string, state?: Record<string, string>) => {
      const r = rows.get(id)!;
      rows.set(id, { ...r, status, state: state ?? r.state });
    },
  } as unknown as CommandLedger;
}

test('the executor rejects a command that does not fit, before any adapter sees it', async () => {
  const asked: string[] = [];
  const adapter: StoreAdapter = {
    name: 'recording',
    handles: () => true,
    validate: async (c) => {
      asked.push(`validate ${c.commandId}`);
      return null;
    },
    execute: async (c) => {
      asked.push(`execute ${c.commandId}`);
      return { status: 'SUCCEEDED', verified: true };
    },
  };
  const results: CommandResult[] = [];
  const engine = new ExecutorEngine({
    executorName: 'unit',
    adapters: [adapter],
    ledger: memoryLedger(),
    emit: async (r) => {
      results.push(r);
    },
    bytesPerSecond: 1e9,
  });
  const cmd = (commandId: string, sourceNode: string | null, targetNode: string | null): AnyCommand => ({
    kind: 'shard',
    commandId,
    issuedAt: NOW,
    deadline: NOW + 60_000,
    store: 'pg-shards',
    storeKind: 'postgres',
    table: 't',
    partition: 's1',
    sourceNode,
    targetNode,
    action: 'dereplicate',
    params: {},
    evidence: {
      seriesId: null,
      currentLoad: 0,
      forecastPeak: 0,
      forecastLower: 0,
      forecastUpper: 0,
      peakAt: null,
      capacity: null,
      model: null,
    },
    expectedBenefit: 0,
    expectedCost: 0,
    estimatedDurationMs: 0,
    requiresApproval: false,
    policy: 'test',
    explanation: 'unit test',
  });
  assert.equal(await engine.run(cmd('bad-1', 'node2', null)), 'REJECTED');
  assert.deepEqual(asked, [], 'no adapter was asked about a command that does not fit');
  assert.match(results.at(-1)!.reason ?? '', /targetNode: missing/);
  assert.equal(await engine.run(cmd('good-1', null, 'node2')), 'SUCCEEDED');
  assert.deepEqual(asked, ['validate good-1', 'execute good-1']);
});
