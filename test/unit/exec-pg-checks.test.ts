/** Pure validation of PostgreSQL executor commands: no server needed. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  checkColumnList,
  checkMerge,
  checkPrecompute,
  checkSplitPoint,
  int64Param,
  msParam,
  parseDerivedExpression,
  rangeBounds,
} from '../../executors/postgres/checks.js';
import { renderPrecompute } from '../../stores/postgres/precomputed.js';
import { nextShardName } from '../../executors/postgres/adapter.js';
import { renderCreate } from '../../executors/postgres/ddl.js';
import { shardObjectName } from '../../stores/postgres/keys.js';
import { checkLayout } from '../../stores/postgres/tables.js';
import { inRange, keyText, physicalName } from '../../stores/postgres/keys.js';
import { nodeIndex, nodeName, configNodes } from '../../stores/postgres/nodes.js';

const cols = new Map([
  ['id', 'bigint'],
  ['customer_id', 'bigint'],
  ['amount', 'numeric'],
  ['payload', 'text'],
  ['updated_at', 'timestamp with time zone'],
]);

describe('split points', () => {
  test('strictly inside (lo, hi)', () => {
    assert.deepEqual(checkSplitPoint('15', '10', '20'), { ok: true, value: '15' });
    assert.equal(checkSplitPoint('10', '10', '20').ok, false);
    assert.equal(checkSplitPoint('20', '10', '20').ok, false);
    assert.equal(checkSplitPoint('9', '10', '20').ok, false);
    assert.equal(checkSplitPoint('-5', null, '0').ok, true);
    assert.equal(checkSplitPoint('5', '0', null).ok, true);
    assert.equal(checkSplitPoint('9223372036854775807', null, null).ok, true);
  });
  test('absurd values are rejected with a reason', () => {
    for (const bad of [
      undefined,
      '',
      'abc',
      '1e9',
      '1.5',
      ' 5',
      '99999999999999999999',
      '9223372036854775808',
      '5; drop table x',
      '0x10',
    ]) {
      const r = checkSplitPoint(bad, null, null);
      assert.equal(r.ok, false, String(bad));
      if (!r.ok) assert.ok(r.reason.length > 0);
    }
  });
  test('property: accepted iff lo < k < hi', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
        fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
        (k, lo, hi) => {
          const r = checkSplitPoint(k.toString(), lo.toString(), hi.toString());
          assert.equal(r.ok, lo < k && k < hi);
        },
      ),
    );
  });
  test('int64 and millisecond parameters', () => {
    assert.deepEqual(int64Param('-0', 'x'), { ok: true, value: '0' });
    assert.deepEqual(msParam(undefined, 'graceMs', 2000, 10_000), { ok: true, value: 2000 });
    assert.equal(msParam('-1', 'graceMs', 0, 10).ok, false);
    assert.equal(msParam('11', 'graceMs', 0, 10).ok, false);
  });
});

describe('merge adjacency', () => {
  const a = { shard: 's0', lo: null, hi: '100', node: 'node0' };
  const b = { shard: 's1', lo: '100', hi: '200', node: 'node0' };
  test('adjacent on one node, either order', () => {
    assert.deepEqual(checkMerge(a, b), { ok: true, value: { lo: null, hi: '200' } });
    assert.deepEqual(checkMerge(b, a), { ok: true, value: { lo: null, hi: '200' } });
  });
  test('gaps, other nodes, itself', () => {
    assert.equal(checkMerge(a, { ...b, lo: '101' }).ok, false);
    assert.equal(checkMerge(a, { ...b, node: 'node1' }).ok, false);
    assert.equal(checkMerge(a, a).ok, false);
  });
});

describe('whitelisted derived expressions', () => {
  test('allowed templates render from quoted identifiers', () => {
    assert.deepEqual(parseDerivedExpression('lower(payload)', cols), {
      ok: true,
      value: { sql: 'lower("payload")', type: 'text', uses: ['payload'] },
    });
    const d = parseDerivedExpression("date_trunc('day', updated_at)", cols);
    assert.ok(
      d.ok && d.value.sql === `date_trunc('day', ("updated_at" AT TIME ZONE 'UTC'))` && d.value.type === 'timestamp without time zone',
    );
    const c = parseDerivedExpression("customer_id || ':' || payload", cols);
    assert.ok(c.ok && c.value.sql === `("customer_id"::text || ':' || "payload"::text)`);
    const m = parseDerivedExpression('customer_id % 16', cols);
    assert.ok(m.ok && m.value.sql === '("customer_id" % 16)');
  });
  test('everything else is rejected', () => {
    for (const bad of [
      'pg_sleep(10)',
      'lower(payload)); drop table x; --',
      "date_trunc('century', updated_at)",
      "date_trunc('day', payload)",
      'lower(amount)',
      'lower(nope)',
      'upper("payload")',
      "payload || ''; drop table x; --' || payload",
      'customer_id % 0',
      'amount % 3',
      'customer_id % 10000000',
      '',
      undefined,
      "payload || ':' || updated_at",
      'x'.repeat(300),
    ]) {
      assert.equal(parseDerivedExpression(bad, cols).ok, false, String(bad));
    }
  });
  test('property: arbitrary text never yields SQL outside the templates', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const r = parseDerivedExpression(s, cols);
        if (r.ok) assert.match(r.value.sql, /^(lower|upper|length|date_trunc|\()/);
        if (r.ok) assert.doesNotMatch(r.value.sql, /;/);
      }),
    );
  });
});

describe('column lists and precompute templates', () => {
  test('composite index columns', () => {
    assert.deepEqual(checkColumnList('customer_id, updated_at', cols), { ok: true, value: ['customer_id', 'updated_at'] });
    for (const bad of [undefined, '', 'nope', 'id,id', 'id; drop table x', '"id"', Array(9).fill('id').join(',')]) {
      assert.equal(checkColumnList(bad, cols).ok, false, String(bad));
    }
  });
  test('precompute templates', () => {
    const s = checkPrecompute({ template: 'sum_by', groupBy: 'customer_id', value: 'amount', name: 'by_cust' }, cols);
    assert.ok(s.ok);
    if (s.ok)
      assert.equal(
        renderPrecompute(s.value, 'orders__s0').select,
        'SELECT "customer_id" AS grp, count(*) AS n, sum("amount") AS total FROM public."orders__s0" GROUP BY "customer_id"',
      );
    assert.ok(checkPrecompute({ template: 'daily_sum', groupBy: 'updated_at', value: 'amount' }, cols).ok);
    assert.ok(checkPrecompute({ template: 'count_by', groupBy: 'customer_id' }, cols).ok);
    const bads: Record<string, string>[] = [
      { template: 'select 1', groupBy: 'customer_id' },
      { template: 'sum_by', groupBy: 'customer_id', value: 'payload' },
      { template: 'daily_sum', groupBy: 'customer_id', value: 'amount' },
      { template: 'count_by', groupBy: 'x; drop' },
      { template: 'count_by', groupBy: 'customer_id', name: 'a b' },
    ];
    for (const bad of bads) {
      assert.equal(checkPrecompute(bad, cols).ok, false, JSON.stringify(bad));
    }
  });
});

describe('layout, names and keys', () => {
  test('node naming', () => {
    assert.equal(nodeName(2), 'node2');
    assert.equal(nodeIndex('node12'), 12);
    assert.equal(nodeIndex('node01'), null);
    assert.equal(nodeIndex('pg1'), null);
    assert.deepEqual(configNodes(['a', 'b']), [
      { node: 'node0', url: 'a' },
      { node: 'node1', url: 'b' },
    ]);
  });
  test('physical names and keys', () => {
    assert.equal(physicalName('orders', 's0'), 'orders__s0');
    assert.throws(() => physicalName('orders; drop', 's0'));
    assert.throws(() => physicalName('o'.repeat(60), 's0'));
    assert.equal(keyText(' 42 '), '42');
    assert.equal(keyText(null), null);
    assert.throws(() => keyText('1e3'));
    assert.ok(inRange('5', null, '6') && !inRange('6', null, '6') && inRange('6', '6', null));
    assert.equal(shardObjectName('a', 'b'), 'a__b');
    assert.ok(shardObjectName('x'.repeat(60), 'idx').length <= 63);
    assert.equal(nextShardName({ shards: [{ shard: 's0' }, { shard: 's2' }] }), 's3');
  });
  test('range layouts', () => {
    const nodes = ['node0', 'node1'];
    assert.equal(
      checkLayout(
        't',
        [
          { shard: 's0', lo: null, hi: 10, node: 'node0' },
          { shard: 's1', lo: 10, hi: null, node: 'node1' },
        ],
        nodes,
      ),
      null,
    );
    assert.match(
      checkLayout(
        't',
        [
          { shard: 's0', lo: null, hi: 10, node: 'node0' },
          { shard: 's1', lo: 5, hi: null, node: 'node1' },
        ],
        nodes,
      )!,
      /overlaps/,
    );
    assert.match(checkLayout('t', [{ shard: 's0', lo: 10, hi: 10, node: 'node0' }], nodes)!, /empty range/);
    assert.match(checkLayout('t', [{ shard: 's0', lo: null, hi: null, node: 'node9' }], nodes)!, /unknown node/);
    assert.match(checkLayout('t;x', [{ shard: 's0', lo: null, hi: null, node: 'node0' }], nodes)!, /plain identifier/);
  });
  test('renderCreate keeps column order, generated columns, primary key and renames indexes', () => {
    const ddl = renderCreate(
      {
        columns: [
          { name: 'id', type: 'bigint', notNull: true, generated: null, default: null },
          { name: 'payload', type: 'text', notNull: false, generated: null, default: null },
          { name: 'p_lc', type: 'text', notNull: false, generated: 'lower(payload)', default: null },
        ],
        primaryKey: 'PRIMARY KEY (id)',
        indexes: [
          {
            name: 'orders__s0__customer_id_idx',
            def: 'CREATE INDEX orders__s0__customer_id_idx ON public.orders__s0 USING btree (customer_id)',
          },
        ],
      },
      'orders__s0',
      'orders__s5',
    );
    assert.deepEqual(ddl, [
      'CREATE TABLE public."orders__s5" ("id" bigint NOT NULL, "payload" text, "p_lc" text GENERATED ALWAYS AS (lower(payload)) STORED, PRIMARY KEY (id))',
      'CREATE INDEX "orders__s5__customer_id_idx" ON public."orders__s5" USING btree (customer_id)',
    ]);
  });
});

test('rekey range bounds: weighted quantiles, strictly increasing, at most n - 1', () => {
  const q = (values: number[], rows: number) => ({ values: values.map(String), rows });
  // Two shards of equal rows, values 0..96 in both: the median splits them.
  assert.deepEqual(rangeBounds([q([24, 48, 72], 100), q([24, 48, 72], 100)], 2), ['48']);
  // A shard with nine times the rows pulls the bound towards its values.
  assert.deepEqual(rangeBounds([q([10, 20, 30], 900), q([80, 90, 95], 100)], 2), ['20']);
  // Few distinct values: fewer ranges, never an empty one.
  assert.deepEqual(rangeBounds([q([5, 5, 5], 10), q([5, 5, 5], 10)], 3), ['5']);
  assert.deepEqual(rangeBounds([q([], 0)], 2), []);
  fc.assert(
    fc.property(
      fc.array(fc.record({ values: fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 31 }), rows: fc.nat(10_000) }), {
        maxLength: 6,
      }),
      fc.integer({ min: 1, max: 8 }),
      (shards, n) => {
        const b = rangeBounds(
          shards.map((s) => ({ values: [...s.values].sort((x, y) => x - y).map(String), rows: s.rows })),
          n,
        ).map(Number);
        assert.ok(b.length <= n - 1);
        for (let i = 1; i < b.length; i++) assert.ok(b[i - 1]! < b[i]!);
      },
    ),
  );
});
