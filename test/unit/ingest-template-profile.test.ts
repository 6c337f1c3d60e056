/**
 * The template profile on a source's total series: per template its count, latency, rows, the
 * predicates it filters on and its aggregate shape; per predicate column its uses, rows read and
 * distinct equality values (capped); templates beyond the bound counted, not dropped.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { ingestBatchProcessor } from '../../processors/ingest/operator.js';
import type { IngestInput, IngestOutput } from '../../processors/ingest/processor.js';
import { initSqlParsers } from '../../processors/ingest/sql/index.js';
import { TemplateProfile } from '../../processors/ingest/templateProfile.js';
import { compileTemplate } from '../../processors/ingest/sql/compile.js';
import { scanSql } from '../../processors/ingest/sql/scanner.js';
import type { WorkloadAggregate } from '../../schemas/types.js';
import { queryEvent } from '../fixtures/records.js';

before(() => initSqlParsers());

const featurize = { partitionKeys: { orders: { column: 'order_id', bounds: [100, 200] } } };
let off = 0;
const ev = (ts: number, sql: string, durationMs: number, rowsRead: number): IngestInput => ({
  topic: 'shardcast.telemetry.queries',
  partition: 0,
  offset: String(off++),
  key: null,
  raw: Buffer.from('raw'),
  value: queryEvent(`e${off}`, 'app', { ts, sql, durationMs, rowsRead, operation: null }),
});

async function aggregatesOf(inputs: IngestInput[]): Promise<WorkloadAggregate[]> {
  const out = (await lastValueFrom(from([inputs]).pipe(ingestBatchProcessor({ featurize, windowMs: 10_000 }), toArray()))).flat();
  return out.filter((o): o is Extract<IngestOutput, { kind: 'out' }> => o.kind === 'out').map((o) => o.value);
}

test("the source's total series carries the window's templates and predicate columns; other series none", async () => {
  off = 0;
  const inputs: IngestInput[] = [];
  for (let i = 0; i < 30; i++) inputs.push(ev(1_000 + i, `SELECT * FROM orders WHERE customer_id = ${i % 5} AND status = 'open'`, 4, 10));
  for (let i = 0; i < 10; i++)
    inputs.push(ev(2_000 + i, `SELECT region, sum(amount) FROM orders WHERE created_at > ${i} GROUP BY region`, 40, 1_000));
  const aggs = await aggregatesOf(inputs);
  const total = aggs.find((a) => a.seriesId === 'app|*|*')!;
  assert.equal(total.queries, 40);
  const [point, agg] = total.templates!;
  assert.equal(point!.queries, 30);
  assert.equal(point!.rowsRead, 300);
  assert.equal(point!.latencySumMs, 120);
  assert.ok(Math.abs(point!.latencyP95Ms! - 4) < 0.1);
  assert.deepEqual(
    point!.predicates.map((p) => `${p.column}${p.op}`),
    ['customer_id=', 'status='],
  );
  assert.deepEqual([agg!.queries, agg!.groupBy, agg!.aggregates], [10, ['region'], ['sum(amount)']]);
  assert.deepEqual(
    total.predicateColumns!.map((c) => [c.table, c.column, c.queries, c.rowsRead, c.distinctValues, c.distinctCapped]),
    [
      ['orders', 'customer_id', 30, 300, 5, false],
      ['orders', 'status', 30, 300, 1, false],
      ['orders', 'created_at', 10, 10_000, 0, false],
    ],
  );
  assert.equal(total.otherTemplateQueries, 0);
  for (const a of aggs.filter((x) => x !== total)) assert.deepEqual(a.templates ?? [], [], a.seriesId);
});

test('bounded: templates beyond the bound are counted as other, distinct values stop at the limit', () => {
  const p = new TemplateProfile({ templatesTracked: 2, templatesReported: 1, columnsTracked: 8, distinctLimit: 3, relativeAccuracy: 0.01 });
  const compiled = (sql: string) => {
    const s = scanSql(sql, 'postgres');
    return compileTemplate(sql, 'postgres', s.key, s.literals);
  };
  const m = { durationMs: 1, rowsRead: 1, rowsWritten: 0 };
  const byId = compiled('SELECT * FROM t WHERE id = 1');
  for (let i = 0; i < 5; i++) p.add(byId, () => [[String(i)]], m);
  p.add(compiled('SELECT * FROM t WHERE a = 1 AND b = 2'), () => [['1'], ['2']], m);
  p.add(compiled('SELECT count(*) FROM u'), () => [], m);
  const s = p.stats();
  assert.deepEqual(
    s.templates.map((t) => t.queries),
    [5],
    'one reported, the most frequent',
  );
  assert.equal(s.otherTemplateQueries, 1, 'the third template is counted, not profiled');
  const id = s.predicateColumns.find((c) => c.column === 'id')!;
  assert.deepEqual([id.queries, id.distinctValues, id.distinctCapped], [5, 3, true]);
});

test('a filter on a function of a column names the expression as the predicate column (either side of the comparison)', async () => {
  off = 0;
  const inputs: IngestInput[] = [];
  for (let i = 0; i < 6; i++) inputs.push(ev(1_000 + i, `SELECT id FROM orders WHERE lower(email) = 'u${i}@x' AND status = 'open'`, 4, 1));
  for (let i = 0; i < 4; i++) inputs.push(ev(2_000 + i, `SELECT id FROM orders WHERE 'u${i}@x' = upper(email)`, 4, 1));
  const total = (await aggregatesOf(inputs)).find((a) => a.seriesId === 'app|*|*')!;
  assert.deepEqual(
    total.templates!.map((t) => [t.queries, t.predicates.map((p) => `${p.column}${p.op}`)]),
    [
      [6, ['lower(email)=', 'status=']],
      [4, ['upper(email)=']],
    ],
  );
});
