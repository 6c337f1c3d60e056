import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchPrecomputed, type PrecomputeSpec, precomputeSelect, renderPrecompute } from '../../stores/postgres/precomputed.js';

const sumBy: PrecomputeSpec = { template: 'sum_by', name: 'by_cust', groupBy: 'customer_id', value: 'amount' };
const countBy: PrecomputeSpec = { template: 'count_by', name: 'n_by_cust', groupBy: 'customer_id', value: null };
const daily: PrecomputeSpec = { template: 'daily_sum', name: 'daily', groupBy: 'updated_at', value: 'amount' };

describe('matchPrecomputed: a statement reads a view only when it is exactly the view query', () => {
  test('the view query over {t}, whatever its whitespace and a trailing semicolon', () => {
    const sql = 'SELECT "customer_id" AS grp,\n  count(*) AS n, sum("amount") AS total\n FROM {t} GROUP BY "customer_id";';
    assert.equal(matchPrecomputed(sql, [countBy, sumBy], 'orders__s1'), 'SELECT grp, n, total FROM public."orders__s1__mv_by_cust"');
  });

  test('count_by and daily_sum map to their own views and columns', () => {
    assert.equal(
      matchPrecomputed(precomputeSelect(countBy, '{t}'), [sumBy, countBy], 'orders__s0'),
      'SELECT grp, n FROM public."orders__s0__mv_n_by_cust"',
    );
    assert.equal(
      matchPrecomputed(precomputeSelect(daily, '{t}'), [daily], 'orders__s0'),
      'SELECT grp, n, total FROM public."orders__s0__mv_daily"',
    );
  });

  test('one group: WHERE "<groupBy>" = $1 before GROUP BY becomes a lookup in the view', () => {
    const sql =
      'SELECT "customer_id" AS grp, count(*) AS n, sum("amount") AS total FROM {t} WHERE "customer_id" = $1 GROUP BY "customer_id"';
    assert.equal(matchPrecomputed(sql, [sumBy], 'orders__s1'), 'SELECT grp, n, total FROM public."orders__s1__mv_by_cust" WHERE grp = $1');
  });

  test('anything else runs unchanged: other filters, aliases, case, unquoted names, other tables, no registry', () => {
    const misses = [
      'SELECT "customer_id" AS grp, count(*) AS n, sum("amount") AS total FROM {t} WHERE "amount" > $1 GROUP BY "customer_id"',
      'SELECT "customer_id" AS c, count(*) AS n, sum("amount") AS total FROM {t} GROUP BY "customer_id"',
      'select "customer_id" as grp, count(*) as n, sum("amount") as total from {t} group by "customer_id"',
      'SELECT customer_id AS grp, count(*) AS n, sum(amount) AS total FROM {t} GROUP BY customer_id',
      'SELECT "customer_id" AS grp, count(*) AS n, sum("amount") AS total FROM other GROUP BY "customer_id"',
      `${precomputeSelect(daily, '{t}').replace(' GROUP BY 1', '')} WHERE "updated_at" = $1 GROUP BY 1`,
    ];
    for (const sql of misses) assert.equal(matchPrecomputed(sql, [sumBy, countBy, daily], 'orders__s1'), null, sql);
    assert.equal(matchPrecomputed(precomputeSelect(sumBy, '{t}'), [], 'orders__s1'), null);
  });

  test('the executor builds its view from the same query the client matches', () => {
    assert.equal(renderPrecompute(sumBy, 'orders__s1').select, precomputeSelect(sumBy, 'public."orders__s1"'));
  });
});
