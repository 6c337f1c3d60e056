/**
 * The SQL featurizer: templates, predicates, key ranges and literal scanning across dialects,
 * with property tests against the parsers. One file because its cases share the parsers' setup
 * and read best side by side.
 */
import { test, before } from 'node:test';
import { queryEvent as buildQueryEvent } from '../../schemas/queryEvent.js';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Dialect, QueryEvent } from '../../schemas/types.js';
import { featurize, initSqlParsers, TemplateCache, scanSql, bucketOf, type FeaturizeConfig } from '../../processors/ingest/sql/index.js';

before(async () => {
  await initSqlParsers();
});

const ev = (sql: string | null, dialect: Dialect = 'postgres', extra: Partial<QueryEvent> = {}): QueryEvent =>
  buildQueryEvent({
    eventId: 'e1',
    ts: 1000,
    source: 'src',
    dialect,
    sql,
    durationMs: 1,
    ...extra,
  });

const cfg: FeaturizeConfig = {
  partitionKeys: { orders: { column: 'order_id', bounds: [100, 200, 300] }, customers: { column: 'id', bounds: [1000] } },
};

test('scanner: literals become ?, whitespace and comments collapse, signs fold', () => {
  const r = scanSql("SELECT  *\n FROM t /* c */ WHERE a = -5 AND b = 'it''s' AND c > x - 3 -- tail", 'postgres');
  assert.equal(r.key, 'SELECT * FROM t WHERE a = ? AND b = ? AND c > x - ?');
  assert.deepEqual(
    r.literals.map((l) => l.value),
    ['-5', "it's", '3'],
  );
  const m = scanSql(`SELECT * FROM t WHERE a = "x\\"y" AND b = 1.5e3`, 'mysql');
  assert.deepEqual(
    m.literals.map((l) => l.value),
    ['x"y', '1.5e3'],
  );
  assert.equal(scanSql('SELECT $1, $$body$$', 'postgres').key, 'SELECT $1, ?');
});

test('postgres: template, fingerprint, predicates, joins, key ranges', () => {
  const f = featurize(
    ev(
      "SELECT o.id FROM orders o JOIN customers c ON o.cid = c.id WHERE o.order_id BETWEEN 110 AND 220 AND o.status IN ('a','b') AND c.id = 5",
    ),
    cfg,
    new TemplateCache(),
  );
  assert.equal(f.operation, 'select');
  assert.equal(f.readWrite, 'read');
  assert.deepEqual(f.tables, ['orders', 'customers']);
  assert.deepEqual(f.joins, ['customers.id=orders.cid']);
  assert.match(f.template!, /BETWEEN \$1 AND \$2/);
  assert.deepEqual(f.predicates[0], { table: 'orders', column: 'order_id', op: 'between', values: ['110', '220'] });
  assert.deepEqual(
    f.keyRanges.map((k) => `${k.table}:${k.bucket}`),
    ['orders:k1', 'orders:k2', 'customers:k0'],
  );
  assert.equal(f.parseError, null);
});

test('writes: update, delete, insert values (key from VALUES), insert-select is mixed', () => {
  const c = new TemplateCache();
  const u = featurize(ev('UPDATE orders SET s = 1 WHERE order_id < 50'), cfg, c);
  assert.equal(u.readWrite, 'write');
  assert.deepEqual(
    u.keyRanges.map((k) => k.bucket),
    ['k0'],
  );
  const i = featurize(ev("INSERT INTO orders (order_id, v) VALUES (5, 'a'), (305, 'b')", 'mysql'), cfg, c);
  assert.equal(i.operation, 'insert');
  assert.deepEqual(
    i.keyRanges.map((k) => k.bucket),
    ['k0', 'k3'],
  );
  assert.deepEqual(i.pointKeys.orders, ['5', '305']);
  const m = featurize(ev('INSERT INTO orders (order_id) SELECT id FROM staging WHERE id > 3'), cfg, c);
  assert.equal(m.readWrite, 'mixed');
  assert.equal(featurize(ev('CREATE TABLE foo (a int)'), cfg, c).readWrite, 'ddl');
});

test('clickhouse and generic dialects go through node-sql-parser', () => {
  const c = new TemplateCache();
  const ch = featurize(
    ev("SELECT count() FROM orders FINAL PREWHERE order_id = 120 WHERE x = 'y' SETTINGS max_threads = 2", 'clickhouse'),
    cfg,
    c,
  );
  assert.equal(ch.parseError, null);
  assert.deepEqual(
    ch.keyRanges.map((k) => k.bucket),
    ['k1'],
  );
  const g = featurize(ev('SELECT * FROM orders WHERE order_id IN (1, 2) OR order_id >= 300', 'generic'), cfg, c);
  assert.deepEqual(
    g.keyRanges.map((k) => k.bucket),
    ['k0', 'k3'],
  );
});

test('unparseable SQL never throws: parseError set, tables from the event', () => {
  for (const d of ['postgres', 'mysql', 'clickhouse', 'generic'] as const) {
    const f = featurize(ev('SELEC * FORM orders WHERE', d, { tables: ['orders'] }), cfg, new TemplateCache());
    assert.ok(f.parseError, d);
    assert.deepEqual(f.tables, ['orders']);
    assert.deepEqual(
      f.keyRanges.map((k) => k.bucket),
      ['*'],
    );
  }
});

test('sql = null uses fingerprint, tables and explicit keyValues', () => {
  const f = featurize(
    ev(null, 'postgres', { fingerprint: 'fp1', tables: ['orders'], operation: 'update', keyValues: { order_id: '250' } }),
    cfg,
    new TemplateCache(),
  );
  assert.equal(f.templateId, 'fp1');
  assert.equal(f.readWrite, 'write');
  assert.deepEqual(f.keyRanges, [{ table: 'orders', column: 'order_id', lo: 250, hi: 250, bucket: 'k2' }]);
});

test('explicit keyValues override what the SQL says', () => {
  const f = featurize(
    ev('SELECT * FROM orders WHERE status = $1', 'postgres', { keyValues: { 'orders.order_id': '150' } }),
    cfg,
    new TemplateCache(),
  );
  assert.deepEqual(
    f.keyRanges.map((k) => k.bucket),
    ['k1'],
  );
});

test('cache: one parse per template, hits re-extract literals', () => {
  const c = new TemplateCache(2);
  const a = featurize(ev('SELECT * FROM orders WHERE order_id = 1'), cfg, c);
  const b = featurize(ev('SELECT * FROM orders WHERE order_id = 250'), cfg, c);
  assert.equal(c.stats.misses, 1);
  assert.equal(c.stats.hits, 1);
  assert.equal(a.templateId, b.templateId);
  assert.deepEqual(b.predicates[0]!.values, ['250']);
  assert.deepEqual(
    b.keyRanges.map((k) => k.bucket),
    ['k2'],
  );
  featurize(ev('SELECT 1 FROM customers'), cfg, c);
  featurize(ev('SELECT 2 FROM x'), cfg, c);
  assert.ok(c.size <= 2);
  assert.ok(c.stats.evictions >= 1);
});

// ---- property tests ----

const lit = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
  fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }).map((x) => String(Math.round(x * 100) / 100)),
  fc.string({ unit: fc.constantFrom('a', 'b', 'Z', ' ', "'", '%', '-', '1', 'é') }).map((s) => `'${s.replace(/'/g, "''")}'`),
);

const shapes: ((l: () => string, list: () => string) => string)[] = [
  (l) => `SELECT * FROM orders WHERE order_id = ${l()} AND status = ${l()}`,
  (l, list) => `SELECT o.id FROM orders o JOIN customers c ON o.cid = c.id WHERE o.order_id IN (${list()}) AND c.name LIKE ${l()} LIMIT 10`,
  (l) => `UPDATE orders SET total = ${l()} WHERE order_id BETWEEN ${l()} AND ${l()}`,
  (l, list) => `DELETE FROM orders WHERE order_id IN (${list()}) OR created < ${l()}`,
  (l) => `INSERT INTO orders (order_id, status) VALUES (${l()}, ${l()})`,
];

test('property: random literals never change the template or its id', () => {
  const cache = new TemplateCache();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: shapes.length - 1 }),
      fc.constantFrom<Dialect>('postgres', 'mysql', 'generic', 'clickhouse'),
      fc.array(lit, { minLength: 8, maxLength: 8 }),
      fc.array(lit, { minLength: 8, maxLength: 8 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      (s, d, l1, l2, n1, n2) => {
        const render = (ls: string[], n: number) => {
          let i = 0;
          const l = () => ls[i++ % ls.length]!;
          return shapes[s]!(l, () => Array.from({ length: n }, l).join(', '));
        };
        const a = featurize(ev(render(l1, n1), d), cfg, cache);
        const b = featurize(ev(render(l2, n2), d), cfg, new TemplateCache());
        assert.equal(a.parseError, null, `${render(l1, n1)}: ${a.parseError}`);
        assert.equal(a.templateId, b.templateId);
        if (n1 === n2) assert.equal(a.template, b.template);
        assert.deepEqual(a.tables, b.tables);
        assert.equal(a.operation, b.operation);
      },
    ),
    { numRuns: 300 },
  );
});

type P = { op: '=' | '<' | '<=' | '>' | '>='; v: number } | { op: 'between'; a: number; b: number } | { op: 'in'; vs: number[] };
type E = { p: P } | { and: E[] } | { or: E[] };

const v = fc.integer({ min: -30, max: 130 });
const pred: fc.Arbitrary<P> = fc.oneof(
  fc.record({ op: fc.constantFrom('=', '<', '<=', '>', '>=') as fc.Arbitrary<'=' | '<' | '<=' | '>' | '>='>, v }),
  fc.record({ op: fc.constant('between' as const), a: v, b: v }),
  fc.record({ op: fc.constant('in' as const), vs: fc.array(v, { minLength: 1, maxLength: 5 }) }),
);
const { expr } = fc.letrec<{ expr: E }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    pred.map((p) => ({ p })),
    fc.array(tie('expr'), { minLength: 2, maxLength: 3 }).map((c) => ({ and: c })),
    fc.array(tie('expr'), { minLength: 2, maxLength: 3 }).map((c) => ({ or: c })),
  ),
}));

const sqlOf = (e: E): string => {
  if ('p' in e) {
    const p = e.p;
    if (p.op === 'between') return `k BETWEEN ${p.a} AND ${p.b}`;
    if (p.op === 'in') return `k IN (${p.vs.join(', ')})`;
    return `k ${p.op} ${p.v}`;
  }
  const parts = ('and' in e ? e.and : e.or).map((c) => `(${sqlOf(c)})`);
  return parts.join('and' in e ? ' AND ' : ' OR ');
};
const holds = (e: E, x: number): boolean => {
  if ('and' in e) return e.and.every((c) => holds(c, x));
  if ('or' in e) return e.or.some((c) => holds(c, x));
  const p = e.p;
  switch (p.op) {
    case '=':
      return x === p.v;
    case '<':
      return x < p.v;
    case '<=':
      return x <= p.v;
    case '>':
      return x > p.v;
    case '>=':
      return x >= p.v;
    case 'between':
      return p.a <= x && x <= p.b;
    case 'in':
      return p.vs.includes(x);
  }
};

test('property: key-range buckets agree with brute-force evaluation over the key domain', () => {
  const cache = new TemplateCache();
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: -20, max: 120 }), { minLength: 1, maxLength: 5 }).map((b) => b.sort((x, y) => x - y)),
      expr,
      fc.constantFrom<Dialect>('postgres', 'mysql', 'generic'),
      (bounds, e, d) => {
        const c: FeaturizeConfig = { partitionKeys: { t: { column: 'k', bounds } } };
        const f = featurize(ev(`SELECT * FROM t WHERE ${sqlOf(e)}`, d), c, cache);
        assert.equal(f.parseError, null);
        // brute force on a half-integer grid: exact for integer literals and integer bounds
        const expected = new Set<number>();
        for (let x = -34; x <= 134; x += 0.5) if (holds(e, x)) expected.add(bucketOf(bounds, x));
        const got = new Set<number>();
        for (const kr of f.keyRanges) {
          if (kr.bucket === '*') for (let b = 0; b <= bounds.length; b++) got.add(b);
          else if (kr.bucket !== 'none') got.add(Number(kr.bucket.slice(1)));
        }
        assert.deepEqual([...got].sort(), [...expected].sort(), `${sqlOf(e)} bounds=${bounds}`);
      },
    ),
    { numRuns: 400 },
  );
});

test('physical shard tables (<table>__<shard>) count on their logical table when it has a partition key', () => {
  const cache = new TemplateCache();
  const f = featurize(ev('SELECT amount FROM orders__s1 WHERE order_id = 150'), cfg, cache);
  assert.deepEqual(f.tables, ['orders']);
  assert.deepEqual(
    f.keyRanges.map((k) => [k.table, k.bucket]),
    [['orders', 'k1']],
  );
  assert.deepEqual(f.pointKeys, { orders: ['150'] });
  // cached template, other literal: still mapped
  assert.deepEqual(
    featurize(ev('SELECT amount FROM orders__s1 WHERE order_id = 250'), cfg, cache).keyRanges.map((k) => k.bucket),
    ['k2'],
  );
  // a table without a configured key keeps its name
  assert.deepEqual(featurize(ev('SELECT * FROM audit__2024 WHERE id = 1'), cfg, cache).tables, ['audit__2024']);
});

test('property: the one-interval key-range path equals the interval algebra', async () => {
  const { keyRangesFor, keyRangesGeneral } = await import('../../processors/ingest/sql/keyrange.js');
  const edge = fc.constantFrom(-Infinity, Infinity, 0, 10, 20, 30);
  const value = fc.oneof(edge, fc.integer({ min: -5, max: 35 }));
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { minLength: 0, maxLength: 4 }).map((b) => [...b].sort((x, y) => x - y)),
      value,
      value,
      fc.boolean(),
      fc.boolean(),
      (bounds, a, b, loOpen, hiOpen) => {
        const lo = Math.min(a, b);
        const hi = Math.max(a, b);
        if (lo === hi && (loOpen || hiOpen || !Number.isFinite(lo))) return; // empty: never a normalized set
        const x = { lo, hi, loOpen: lo === -Infinity ? true : loOpen, hiOpen: hi === Infinity ? true : hiOpen };
        const spec = { column: 'id', bounds };
        assert.deepEqual(keyRangesFor('t', spec, [x]), keyRangesGeneral('t', spec, [x]), JSON.stringify({ bounds, x }));
      },
    ),
    { numRuns: 5000 },
  );
});

// Statements whose WHERE mixes the key column with others, through AND, OR and NOT-constraining
// operators, on one table or two (the key plans apply to some, the general path to the rest).
type Cond = { col: string; op: string; n: number } | { and: Cond[] } | { or: Cond[] };
const keyCols = ['order_id', 'o.order_id', 'id', 'c.id', 'status', 'o.status', 'created'];
const condOps = ['=', '<', '>=', '<>', 'BETWEEN', 'IN', 'LIKE', 'IS NULL'];
const { cond } = fc.letrec<{ cond: Cond }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small', withCrossShrink: true, maxDepth: 3 },
    {
      arbitrary: fc.record({ col: fc.constantFrom(...keyCols), op: fc.constantFrom(...condOps), n: fc.integer({ min: 1, max: 3 }) }),
      weight: 3,
    },
    { arbitrary: fc.array(tie('cond'), { minLength: 2, maxLength: 3 }).map((c) => ({ and: c })), weight: 2 },
    { arbitrary: fc.array(tie('cond'), { minLength: 2, maxLength: 3 }).map((c) => ({ or: c })), weight: 1 },
  ),
}));
const condSql = (c: Cond, l: () => string): string => {
  if ('and' in c || 'or' in c) {
    const parts = ('and' in c ? c.and : c.or).map((x) => `(${condSql(x, l)})`);
    return parts.join('and' in c ? ' AND ' : ' OR ');
  }
  switch (c.op) {
    case 'BETWEEN':
      return `${c.col} BETWEEN ${l()} AND ${l()}`;
    case 'IN':
      return `${c.col} IN (${Array.from({ length: c.n }, l).join(', ')})`;
    case 'IS NULL':
      return `${c.col} IS NULL`;
    default:
      return `${c.col} ${c.op} ${l()}`;
  }
};
const from = fc.constantFrom(
  'SELECT * FROM orders o WHERE',
  'SELECT * FROM orders o JOIN customers c ON o.cid = c.id WHERE',
  'DELETE FROM orders WHERE',
  'UPDATE customers SET name = 1 WHERE',
);
const keyLit = fc.oneof(fc.integer({ min: -50, max: 400 }).map(String), fc.constantFrom("'abc'", "'150'", '2.5', '-0', '$1'));

test('property: a cached template analyses its statements as a fresh parse does (key plans = general path)', async () => {
  const { analyze, valuesOf } = await import('../../processors/ingest/sql/featurize.js');
  let planned = 0;
  let compared = 0;
  fc.assert(
    fc.property(
      from,
      cond,
      fc.array(keyLit, { minLength: 12, maxLength: 12 }),
      fc.array(keyLit, { minLength: 12, maxLength: 12 }),
      fc.constantFrom(16, 1, 0),
      fc.constantFrom<Record<string, string>>({}, { order_id: '7' }, { 'customers.id': 'x' }),
      (head, c, l1, l2, maxPointKeys, keyValues) => {
        const render = (ls: string[]) => {
          let i = 0;
          return `${head} ${condSql(c, () => ls[i++ % ls.length]!)}`;
        };
        const config: FeaturizeConfig = { ...cfg, maxPointKeys };
        const warm = new TemplateCache();
        analyze(ev(render(l1), 'postgres', { keyValues }), config, warm);
        const e2 = ev(render(l2), 'postgres', { keyValues });
        const hit = analyze(e2, config, warm);
        const fresh = analyze(e2, config, new TemplateCache());
        if (warm.stats.hits !== 1) return; // another template (e.g. a sign folded differently): nothing to compare
        compared++;
        if (hit.compiled.keyPlans?.byTable.some((p) => p !== null && p.pred >= 0)) planned++;
        const what = `${render(l2)} (template compiled from ${render(l1)})`;
        assert.deepEqual(hit.keyRanges, fresh.keyRanges, what);
        assert.deepEqual(hit.pointKeys, fresh.pointKeys, what);
        assert.deepEqual(valuesOf(hit), valuesOf(fresh), what);
      },
    ),
    { numRuns: 1500 },
  );
  assert.ok(compared >= 500 && planned >= 100, `compared ${compared} statements, the key plans were used in ${planned}`);
});
