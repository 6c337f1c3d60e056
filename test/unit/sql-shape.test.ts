/** The aggregate shape of a statement (group-by columns, aggregate calls) from both parsers. */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { Dialect } from '../../schemas/types.js';
import { compileTemplate } from '../../processors/ingest/sql/compile.js';
import { initSqlParsers } from '../../processors/ingest/sql/featurize.js';
import { scanSql } from '../../processors/ingest/sql/scanner.js';

before(() => initSqlParsers());

const shapeOf = (sql: string, dialect: Dialect) => {
  const scan = scanSql(sql, dialect);
  return compileTemplate(sql, dialect, scan.key, scan.literals).shape;
};

const CASES: [string, { groupBy: string[]; aggregates: string[] }][] = [
  [
    "SELECT o.customer_id, sum(o.amount), count(*) FROM orders o WHERE o.region = 'eu' GROUP BY o.customer_id",
    { groupBy: ['customer_id'], aggregates: ['sum(amount)', 'count(*)'] },
  ],
  ['SELECT region, count(*) FROM orders GROUP BY 1', { groupBy: ['region'], aggregates: ['count(*)'] }],
  ['SELECT max(amount) FROM orders WHERE id > 10', { groupBy: [], aggregates: ['max(amount)'] }],
  ['SELECT * FROM orders WHERE id = 7', { groupBy: [], aggregates: [] }],
  ['SELECT lower(email), count(*) FROM users GROUP BY lower(email)', { groupBy: ['lower(email)'], aggregates: ['count(*)'] }],
  ['SELECT region AS r, count(*) FROM orders GROUP BY r', { groupBy: ['region'], aggregates: ['count(*)'] }],
  ['SELECT substr(email, 1, 3) AS p, count(*) FROM users GROUP BY p', { groupBy: [], aggregates: ['count(*)'] }],
];

for (const dialect of ['postgres', 'mysql', 'clickhouse'] as const) {
  test(`${dialect}: group-by columns and aggregate calls, ordinals resolved, one-argument functions named, other expressions not`, () => {
    for (const [sql, want] of CASES) assert.deepEqual(shapeOf(sql, dialect), want, `${dialect}: ${sql}`);
  });
}

test('ClickHouse: count() and a month of a date column by its alias', () => {
  assert.deepEqual(
    shapeOf('SELECT toYYYYMM(created) AS m, sum(amount), count() FROM t WHERE customer_id = 5 GROUP BY m ORDER BY m', 'clickhouse'),
    {
      groupBy: ['toYYYYMM(created)'],
      aggregates: ['sum(amount)', 'count(*)'],
    },
  );
});

test('statements that are not a plain SELECT have no shape', () => {
  assert.deepEqual(shapeOf('UPDATE orders SET amount = 1 WHERE id = 2', 'postgres'), { groupBy: [], aggregates: [] });
  assert.deepEqual(shapeOf('SELECT a FROM t UNION SELECT count(*) FROM u', 'postgres'), { groupBy: [], aggregates: [] });
  assert.deepEqual(shapeOf('SELECT a FROM t UNION SELECT count(*) FROM u', 'mysql'), { groupBy: [], aggregates: [] });
});
