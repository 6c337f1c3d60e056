/** Builds executor commands for integration tests: every field filled, `fields` override. */
import type { AnyCommand } from '../../schemas/types.js';

let n = 0;

export function testCommand(
  idPrefix: string,
  table: string,
  kind: 'partition' | 'shard',
  action: string,
  fields: Record<string, unknown>,
  params: Record<string, string> = {},
): AnyCommand {
  return {
    kind,
    commandId: `${idPrefix}-${process.pid}-${Date.now()}-${++n}`,
    issuedAt: Date.now(),
    deadline: Date.now() + 600_000,
    store: 'pg-shards',
    storeKind: 'postgres',
    table,
    partition: null,
    ...(kind === 'shard' ? { sourceNode: null, targetNode: null } : {}),
    action,
    params,
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
    explanation: 'integration test',
    ...fields,
  } as AnyCommand;
}
