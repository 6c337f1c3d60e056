import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandedDesigns } from '../../processors/decide/commandedDesigns.js';
import { WorkloadProfile } from '../../processors/decide/workloadProfile.js';
import type { AnyCommand, CommandResult, TemplateStats, WorkloadAggregate } from '../../schemas/types.js';

const cmd = (id: string, action: string, params: Record<string, string>): AnyCommand =>
  ({ kind: 'partition', commandId: id, action, table: 'orders', partition: null, params, deadline: 10_000 }) as unknown as AnyCommand;

const lookup: TemplateStats = {
  templateId: 'lookup',
  template: null,
  operation: 'select',
  tables: ['orders'],
  queries: 500,
  rowsRead: 5_000,
  rowsWritten: 0,
  latencySumMs: 20_000,
  latencyP50Ms: 40,
  latencyP95Ms: 50,
  predicates: [
    { table: 'orders', column: 'customer_id', op: '=' },
    { table: 'orders', column: 'updated_at', op: '>' },
  ],
  groupBy: [],
  aggregates: [],
  joins: [],
};

test('a design commanded and not yet in the registry counts as existing until it fails or its deadline passes', () => {
  const commanded = new CommandedDesigns();
  commanded.remember([
    cmd('ix', 'composite_index', { columns: 'customer_id,updated_at', name: 'sc_idx_a' }),
    cmd('mv', 'precompute', { template: 'sum_by', groupBy: 'customer_id', value: 'amount', name: 'sc_mv_a' }),
    cmd('attr', 'derived_attribute', { expression: 'lower(payload)', name: 'sc_attr_a' }),
    cmd('mv2', 'move', {}),
  ]);
  const d = commanded.addTo(new Map([['orders', { indexes: [['id']], precomputed: [] }]]), 0).get('orders')!;
  assert.deepEqual(d.indexes, [['id'], ['customer_id', 'updated_at']]);
  assert.deepEqual(d.precomputed, [{ groupBy: 'customer_id', value: 'amount' }]);
  assert.deepEqual(d.derived, ['lower(payload)']);

  // the planner's statistics see the index as there: the lookup is indexed, nothing to plan
  const profile = new WorkloadProfile();
  profile.observe({
    seriesId: 'app|*|*',
    source: 'app',
    table: null,
    windowStart: 0,
    windowEnd: 1,
    templates: [lookup],
  } as unknown as WorkloadAggregate);
  assert.equal(profile.statistics(['orders'], { designs: commanded.addTo(new Map(), 0) }).templates[0]!.indexed, true);
  assert.equal(profile.statistics(['orders']).templates[0]!.indexed, false);

  commanded.observeResult({ commandId: 'ix', status: 'REJECTED' } as CommandResult);
  assert.deepEqual(commanded.addTo(new Map(), 0).get('orders')!.indexes, []);
  assert.equal(commanded.addTo(new Map(), 10_000).size, 0, 'past their deadline: forgotten');
});
