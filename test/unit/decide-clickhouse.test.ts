/**
 * ClickHouse decisions from its workload: a hot aggregate becomes the precomputation that answers
 * it (count or sum by a column, sum by a day or month of a date), nothing for one filtered on
 * another column or already precomputed; a table most of whose queries filter a date column by
 * range is repartitioned by it (approval required), not when its key already uses the column.
 * Every command fits the command contract.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ChTableState, DEFAULT_CH_PLAN, planClickHouseDesign } from '../../processors/decide/clickhouse/design.js';
import { commandParamsReason } from '../../schemas/commandParams.js';
import type { TemplateStats } from '../../schemas/types.js';

const t = (id: string, extra: Partial<TemplateStats>): TemplateStats => ({
  templateId: id,
  template: null,
  operation: 'select',
  tables: ['shardcast.events'],
  queries: 50,
  rowsRead: 100_000,
  rowsWritten: 0,
  latencySumMs: 50 * 40,
  latencyP50Ms: 40,
  latencyP95Ms: 60,
  predicates: [],
  groupBy: [],
  aggregates: [],
  joins: [],
  ...extra,
});

const table = (extra: Partial<ChTableState> = {}): ChTableState => ({
  database: 'shardcast',
  table: 'events',
  partitionKey: 'intDiv(id, 1000000)',
  columns: new Map([
    ['id', 'UInt64'],
    ['customer_id', 'UInt64'],
    ['amount', 'Float64'],
    ['created', 'Date'],
  ]),
  rows: 1_000_000,
  precomputed: [],
  ...extra,
});

const cfg = { ...DEFAULT_CH_PLAN, store: 'clickhouse', windowMs: 10_000, manual: false };

const monthly = t('monthly', { groupBy: ['toYYYYMM(created)'], aggregates: ['sum(amount)'] });
const byCustomer = t('by-customer', { groupBy: ['customer_id'], aggregates: ['count(*)'] });
const filtered = t('filtered', {
  groupBy: ['toYYYYMM(created)'],
  aggregates: ['sum(amount)'],
  predicates: [{ table: null, column: 'customer_id', op: '=' }],
});
const ranged = (id: string, queries: number) =>
  t(id, {
    queries,
    aggregates: ['count(*)'],
    predicates: [
      { table: null, column: 'created', op: '>=' },
      { table: null, column: 'created', op: '<' },
    ],
  });

test('hot aggregates become the precomputations that answer them; filtered or existing ones do not', () => {
  const plan = planClickHouseDesign([monthly, byCustomer, filtered], [table()], new Map(), 1_000_000, cfg);
  assert.deepEqual(
    plan.commands.map((c) => [c.action, c.params.template, c.params.groupBy, c.params.value ?? null, c.params.name, c.requiresApproval]),
    [
      ['precompute', 'daily_sum', 'created', 'amount', 'daily_sum_created_amount', false],
      ['precompute', 'count_by', 'customer_id', null, 'count_by_customer_id', false],
    ],
  );
  for (const c of plan.commands) assert.equal(commandParamsReason(c), null, c.explanation);
  const again = planClickHouseDesign(
    [monthly, byCustomer],
    [table({ precomputed: ['daily_sum_created_amount'] })],
    new Map(),
    1_000_000,
    cfg,
  );
  assert.deepEqual(
    again.commands.map((c) => c.params.name),
    ['count_by_customer_id'],
  );
  const cold = planClickHouseDesign([{ ...monthly, queries: 3, latencySumMs: 120 }], [table()], new Map(), 1_000_000, cfg);
  assert.equal(cold.commands.length, 0, 'not hot');
});

test('repartition by the date column most queries filter by range, with approval, before new precomputations; not when the key uses it or views read the table', () => {
  const plan = planClickHouseDesign([ranged('r', 60), byCustomer], [table()], new Map(), 0, cfg);
  assert.deepEqual(
    plan.commands.map((c) => [
      c.action,
      c.params.partitionBy ?? c.params.template,
      c.params.partitionColumn ?? c.params.groupBy,
      c.requiresApproval,
    ]),
    [
      ['repartition', 'toYYYYMM', 'created', true],
      ['precompute', 'count_by', 'customer_id', false],
    ],
  );
  assert.equal(plan.commands[1]!.params.dependsOn, plan.commands[0]!.commandId, 'the new precomputation waits for the repartition');
  for (const c of plan.commands) assert.equal(commandParamsReason(c), null);
  const viewed = planClickHouseDesign([ranged('r', 60)], [table({ precomputed: ['count_by_customer_id'] })], new Map(), 0, cfg);
  assert.equal(viewed.commands.length, 0, 'a table with precomputations is not repartitioned');
  assert.match(viewed.explanations[0]!, /not repartitioned/);
  // a precomputation commanded in an earlier round and not built yet reads the table too
  const commanded = planClickHouseDesign([ranged('r', 60)], [table()], new Map([['events#count_by_customer_id', 0]]), 60_000, cfg);
  assert.equal(commanded.commands.length, 0, 'a table with a precomputation under way is not repartitioned');
  assert.match(commanded.explanations[0]!, /\(count_by_customer_id\) read it: not repartitioned/);
  const keyed = planClickHouseDesign([ranged('r', 60)], [table({ partitionKey: 'toYYYYMM(created)' })], new Map(), 0, cfg);
  assert.equal(keyed.commands.length, 0);
  const minority = planClickHouseDesign([ranged('r', 30), t('x', { queries: 70 })], [table()], new Map(), 0, cfg);
  assert.equal(minority.commands.length, 0, '30% of the queries is under the share');
  const cooling = planClickHouseDesign([ranged('r', 60)], [table()], new Map([['events', 0]]), 60_000, cfg);
  assert.equal(cooling.commands.length, 0, 'in cooldown');
});

test('a template forecast to rise is planned at its forecast peak, the evidence showing the last window beside it', () => {
  // 2 executions in the last window: below minCount, so not hot yet; forecast to reach 60
  const rising = {
    ...t('rising', { groupBy: ['customer_id'], aggregates: ['count(*)'], queries: 60, latencySumMs: 60 * 40 }),
    observed: 2,
  };
  const plan = planClickHouseDesign([rising], [table()], new Map(), 1_000_000, cfg);
  assert.equal(plan.commands.length, 1);
  const c = plan.commands[0]!;
  assert.deepEqual(
    [c.action, c.params.groupBy, c.evidence.currentLoad, c.evidence.forecastPeak, c.evidence.model],
    ['precompute', 'customer_id', 2, 60, 'template-forecast'],
  );
  assert.match(c.explanation, /60\/window forecast \(2 in the last window\)/);
  // as observed, the same template is not hot
  assert.equal(
    planClickHouseDesign([{ ...rising, queries: 2, latencySumMs: 80, observed: undefined }], [table()], new Map(), 1_000_000, cfg).commands
      .length,
    0,
  );

  // a repartition's evidence too: its range queries forecast, the last window beside them
  const up = planClickHouseDesign([{ ...ranged('r', 90), observed: 30 }], [table()], new Map(), 1_000_000, cfg).commands;
  const r = up.find((x) => x.action === 'repartition')!;
  assert.deepEqual([r.evidence.currentLoad, r.evidence.forecastPeak, r.evidence.model], [30, 90, 'template-forecast']);
});
