/**
 * From ingest's template profiles to the planners' statistics: the newest window's parts summed
 * over nodes, equality columns first, aggregate shape to a count or sum by one column, joins and
 * writes not adapted, what the store already has (indexes, precomputations) not planned again;
 * a template forecast to rise planned at its forecast peak.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkloadProfile } from '../../processors/decide/workloadProfile.js';
import { isTemplateSeries, templateOf, templateSeriesId, withTemplateObservations } from '../../processors/forecast/templateSeries.js';
import type { Forecast, TemplateStats, WorkloadAggregate } from '../../schemas/types.js';

const template = (id: string, extra: Partial<TemplateStats>): TemplateStats => ({
  templateId: id,
  template: null,
  operation: 'select',
  tables: ['orders'],
  queries: 10,
  rowsRead: 100,
  rowsWritten: 0,
  latencySumMs: 300,
  latencyP50Ms: 30,
  latencyP95Ms: 40,
  predicates: [],
  groupBy: [],
  aggregates: [],
  joins: [],
  ...extra,
});

const total = (seriesId: string, windowStart: number, templates: TemplateStats[]): WorkloadAggregate =>
  ({
    seriesId,
    windowStart,
    windowEnd: windowStart + 10_000,
    source: seriesId.split('|')[0]!,
    table: null,
    keyBucket: null,
    partition: null,
    node: null,
    queries: templates.reduce((a, t) => a + t.queries, 0),
    templates,
  }) as WorkloadAggregate;

const point = template('point', {
  predicates: [
    { table: 'orders', column: 'created_at', op: '>' },
    { table: 'orders', column: 'customer_id', op: '=' },
  ],
});
const agg = template('agg', { groupBy: ['region'], aggregates: ['sum(amount)', 'count(*)'], latencySumMs: 2_000 });
const filteredAgg = template('filtered-agg', {
  groupBy: ['region'],
  aggregates: ['count(*)'],
  predicates: [{ table: 'orders', column: 'id', op: '>' }],
});
const join = template('join', { tables: ['orders', 'customers'], predicates: [{ table: 'customers', column: 'id', op: '=' }] });
const write = template('write', { operation: 'update', predicates: [{ table: 'orders', column: 'id', op: '=' }] });

test('the newest window, summed over the nodes, as TemplateStat and PredicateStat', () => {
  const p = new WorkloadProfile();
  p.observe(total('app|*|*||node0', 0, [template('old', {})]));
  p.observe(total('app|*|*||node0', 10_000, [point, agg, filteredAgg, join, write]));
  p.observe(total('app|*|*||node1', 10_000, [point]));
  p.observe(total('other|*|*', 10_000, [template('elsewhere', {})]));
  const s = p.statistics(['orders', 'customers'], { source: 'app' });
  assert.deepEqual(
    s.templates.map((t) => [
      t.templateId,
      t.table,
      t.count,
      t.kind,
      t.columns.join(','),
      t.meanLatencyMs,
      t.groupBy ?? null,
      t.sumOf ?? null,
    ]),
    [
      ['agg', 'orders', 10, 'aggregate', '', 200, 'region', 'amount'],
      ['filtered-agg', 'orders', 10, 'range', 'id', 30, null, null],
      ['point', 'orders', 20, 'range', 'customer_id,created_at', 30, null, null],
    ],
    'joins and writes are not adapted; an aggregate filtered on another column is no precomputation; older windows and other sources are not counted',
  );
  assert.deepEqual(
    s.predicates.map((x) => [x.table, x.columns.join(','), x.count]),
    [
      ['orders', 'id', 10],
      ['customers', 'id', 10],
      ['orders', 'customer_id,created_at', 20],
      ['orders', 'id', 10],
    ],
  );
  assert.deepEqual(p.statistics(['customers']).templates, [], 'only the tables named');
});

test('what exists is not planned again: an index leading with the columns, the same precomputation', () => {
  const p = new WorkloadProfile();
  p.observe(total('app|*|*', 0, [point, agg, template('count', { groupBy: ['status'], aggregates: ['count(*)'] })]));
  const designs = new Map([
    ['orders', { indexes: [['created_at', 'customer_id', 'id']], precomputed: [{ groupBy: 'region', value: 'amount' }] }],
  ]);
  const s = p.statistics(['orders'], { designs });
  assert.deepEqual(
    s.templates.map((t) => [t.templateId, t.indexed, t.sumOf ?? null]),
    [
      ['count', false, null],
      ['point', true, null],
    ],
  );
  const none = p.statistics(['orders']);
  assert.equal(none.templates.find((t) => t.templateId === 'point')!.indexed, false);
});

test('a filter on a derivable function of a column is an expression template, until a derived column holds it', () => {
  const p = new WorkloadProfile();
  const byEmail = template('by-email', {
    predicates: [
      { table: 'orders', column: 'lower(email)', op: '=' },
      { table: 'orders', column: 'status', op: '=' },
    ],
  });
  const other = template('by-md5', { predicates: [{ table: 'orders', column: 'md5(email)', op: '=' }] });
  p.observe(total('app|*|*', 0, [byEmail, other]));
  const s = p.statistics(['orders']);
  const t = s.templates.find((x) => x.templateId === 'by-email')!;
  assert.deepEqual([t.kind, t.expression], ['expression', 'lower(email)']);
  // a function the executor cannot derive stays a plain point lookup
  assert.equal(s.templates.find((x) => x.templateId === 'by-md5')!.kind, 'point');
  // the expression is not a key column candidate
  assert.ok(s.predicates.every((x) => !x.columns.includes('lower(email)')));
  const designs = new Map([['orders', { indexes: [], precomputed: [], derived: ['lower(email)'] }]]);
  assert.equal(
    p.statistics(['orders'], { designs }).templates.find((x) => x.templateId === 'by-email'),
    undefined,
  );
});

const templateForecast = (seriesId: string, originTs: number, predicted: number[]): Forecast =>
  ({
    seriesId,
    originTs,
    issuedAt: originTs,
    stepMs: 10_000,
    metric: 'queries',
    model: 'ensemble',
    points: predicted.map((p, i) => ({ horizon: i + 1, ts: originTs + (i + 1) * 10_000, predicted: p, lower: 0, upper: p * 2 })),
  }) as Forecast;

test('a template forecast to rise is planned at its forecast peak, before the load arrives', () => {
  const p = new WorkloadProfile();
  p.observe(total('app|*|*||node0', 10_000, [point]));
  p.observe(total('app|*|*||node1', 10_000, [point]));
  // its executions forecast per node: the peak of the sums over nodes is 70 + 80 at the third step
  p.observeForecast(templateForecast(templateSeriesId('app', 'point', 'node0'), 10_000, [20, 40, 70]));
  p.observeForecast(templateForecast(templateSeriesId('app', 'point', 'node1'), 10_000, [20, 90, 80]));
  // an older origin and another source do not count
  p.observeForecast(templateForecast(templateSeriesId('app', 'point', 'node2'), 0, [1_000, 1_000, 1_000]));
  p.observeForecast(templateForecast(templateSeriesId('other', 'point', null), 10_000, [1_000, 1_000, 1_000]));
  const [t] = p.statistics(['orders'], { source: 'app' }).templates;
  assert.equal(t!.count, 150, 'the forecast peak (70 + 80 beats 40 + 90)');
  assert.equal(t!.observed, 20, 'the last window, for the explanation');
  assert.equal(t!.meanLatencyMs, 30, 'latency per execution stays the observed one');

  // a forecast below the last window does not lower it
  const q = new WorkloadProfile();
  q.observe(total('app|*|*', 10_000, [point]));
  q.observeForecast(templateForecast(templateSeriesId('app', 'point', null), 10_000, [1, 2, 3]));
  const [u] = q.statistics(['orders'], { source: 'app' }).templates;
  assert.deepEqual([u!.count, u!.observed], [10, undefined]);
});

test('a template absent from the newest window but forecast to return is planned at its forecast, with the shape it last had', () => {
  const p = new WorkloadProfile();
  // a nightly report seen in an older window, then gone from the newest
  p.observe(total('app|*|*', 0, [agg]));
  p.observe(total('app|*|*', 10_000, [point]));
  p.observeForecast(templateForecast(templateSeriesId('app', 'agg', null), 10_000, [0, 5, 40]));
  p.observeForecast(templateForecast(templateSeriesId('app', 'gone', null), 10_000, [0, 0, 30])); // never seen: no shape
  p.observeForecast(templateForecast(templateSeriesId('app', 'point', null), 10_000, [0, 0, 0]));
  const ahead = p.templatesAhead('app');
  assert.deepEqual(
    ahead.map((t) => [t.templateId, t.queries, t.observed]),
    [
      ['point', 10, undefined],
      ['agg', 40, 0],
    ],
  );
  const report = ahead.find((t) => t.templateId === 'agg')!;
  assert.equal(report.latencySumMs / report.queries, agg.latencySumMs / agg.queries, "latency per execution is the shape's");
  assert.equal(report.rowsRead, 400, 'rows read per execution too');
  const stat = p.statistics(['orders'], { source: 'app' }).templates.find((t) => t.templateId === 'agg');
  assert.deepEqual([stat?.kind, stat?.count, stat?.observed, stat?.groupBy], ['aggregate', 40, 0, 'region']);
  // another source's shape is not this source's template
  assert.equal(
    p.templatesAhead('other').some((t) => t.templateId === 'agg'),
    false,
  );
});

test('template series: one per template of a total series, after its aggregate; none for a table', () => {
  const a = { ...total('app|*|*||node1', 20_000, [point, agg]), node: 'node1' };
  const obs = withTemplateObservations([a, { ...a, seriesId: 'app|orders|k0', table: 'orders' }]);
  assert.deepEqual(
    obs.map((o) => [o.seriesId, o.windowStart, o.queries]),
    [
      ['app|*|*||node1', 20_000, 20],
      ['app|#template|point|node1', 20_000, 10],
      ['app|#template|agg|node1', 20_000, 10],
      ['app|orders|k0', 20_000, 20],
    ],
  );
  assert.ok(isTemplateSeries(obs[1]!.seriesId) && !isTemplateSeries('app|orders|k0') && !isTemplateSeries('app|*|*||node1'));
  assert.equal(templateOf(obs[2]!.seriesId), 'agg');
});
