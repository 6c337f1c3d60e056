/**
 * Key-range buckets of a re-keyed table: the names, the keys laid over the configured ones, and
 * the three readers of bucket names (ingest's featurizer, the forecaster's key order, the
 * decide stage's bucket specs) agreeing on a prefixed key.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { bucketBounds, bucketName, currentKeys, parseBucket, sameKeys, type TableKey } from '../../schemas/keyBuckets.js';
import { queryEvent } from '../../schemas/queryEvent.js';
import { featurize, initSqlParsers, TemplateCache } from '../../processors/ingest/sql/index.js';
import { bucketOrder } from '../../processors/forecast/keyOrder.js';
import { bucketsFor } from '../../processors/decide/series.js';
import { hashInt8 } from '../../schemas/keyHash.js';

before(async () => {
  await initSqlParsers();
});

const CONFIGURED: Record<string, TableKey> = { orders: { column: 'id', bounds: [1000, 2000] }, users: { column: 'id', bounds: [50] } };

test('bucket names: the configured key k<i>, a recorded key <column>.k<i>; anything else is no bucket', () => {
  assert.equal(bucketName(3), 'k3');
  assert.equal(bucketName(3, 'customer_id'), 'customer_id.k3');
  assert.deepEqual(parseBucket('k12'), { prefix: null, index: 12 });
  assert.deepEqual(parseBucket('customer_id.k0'), { prefix: 'customer_id', index: 0 });
  for (const other of ['*', 'none', '', null, 'k', 'x.y.k1', 'k1x']) assert.equal(parseBucket(other), null, String(other));
});

test('bucket bounds: only for a name of the key itself', () => {
  const rekeyed: TableKey = { column: 'customer_id', bounds: [10, 20], bucketPrefix: 'customer_id' };
  assert.deepEqual(bucketBounds(rekeyed, 'customer_id.k0'), { lo: null, hi: 10 });
  assert.deepEqual(bucketBounds(rekeyed, 'customer_id.k1'), { lo: 10, hi: 20 });
  assert.deepEqual(bucketBounds(rekeyed, 'customer_id.k2'), { lo: 20, hi: null });
  // the old key's names, a bucket past the last, and no key at all say nothing
  assert.deepEqual(bucketBounds(rekeyed, 'k1'), { lo: null, hi: null });
  assert.deepEqual(bucketBounds(rekeyed, 'customer_id.k3'), { lo: null, hi: null });
  assert.deepEqual(bucketBounds(undefined, 'k1'), { lo: null, hi: null });
  assert.deepEqual(bucketBounds(CONFIGURED.orders, 'k1'), { lo: 1000, hi: 2000 });
});

test('current keys: a rekey with recorded bounds replaces the configured key; without, or unconfigured, it does not', () => {
  const keys = currentKeys(CONFIGURED, [
    { table: 'orders', column: 'customer_id', bounds: [10, 20, 30], hashed: false },
    { table: 'users', column: 'email_id', bounds: null, hashed: false },
    { table: 'other', column: 'x', bounds: [1], hashed: false },
  ]);
  assert.deepEqual(keys, {
    orders: { column: 'customer_id', bounds: [10, 20, 30], bucketPrefix: 'customer_id' },
    users: CONFIGURED.users,
  });
  assert.ok(sameKeys(currentKeys(CONFIGURED, []), CONFIGURED));
  assert.ok(!sameKeys(keys, CONFIGURED));
  // re-keyed back to the configured column: its own bounds, its own names
  const back = currentKeys(CONFIGURED, [{ table: 'orders', column: 'id', bounds: [500], hashed: false }]);
  assert.deepEqual(back.orders, { column: 'id', bounds: [500], bucketPrefix: 'id' });
  assert.ok(!sameKeys(back, CONFIGURED));
});

test('a re-keyed table: ingest buckets by the new column, the forecaster orders its buckets apart, decide plans the same names', () => {
  const keys = currentKeys(CONFIGURED, [{ table: 'orders', column: 'customer_id', bounds: [10, 20, 30], hashed: false }]);
  const ev = (sql: string) => queryEvent({ eventId: 'e', ts: 1, source: 'pg', dialect: 'postgres', sql, durationMs: 1 });
  const cache = new TemplateCache();
  const byCustomer = featurize(ev('SELECT * FROM orders WHERE customer_id = 25'), { partitionKeys: keys }, cache);
  assert.deepEqual(
    byCustomer.keyRanges.map((r) => [r.column, r.bucket]),
    [['customer_id', 'customer_id.k2']],
  );
  const range = featurize(ev('SELECT * FROM orders WHERE customer_id BETWEEN 5 AND 15'), { partitionKeys: keys }, cache);
  assert.deepEqual(
    range.keyRanges.map((r) => r.bucket),
    ['customer_id.k0', 'customer_id.k1'],
  );
  // the old key constrains nothing now: every bucket
  const byId = featurize(ev('SELECT * FROM orders WHERE id = 1500'), { partitionKeys: keys }, cache);
  assert.deepEqual(
    byId.keyRanges.map((r) => r.bucket),
    ['*'],
  );
  // the same template under the configured key, from the same cache: planned again for the new keys
  const before = featurize(ev('SELECT * FROM orders WHERE customer_id = 25'), { partitionKeys: CONFIGURED }, cache);
  assert.deepEqual(
    before.keyRanges.map((r) => r.bucket),
    ['*'],
  );

  assert.deepEqual(bucketOrder('pg|orders|customer_id.k2|p0|node1'), { group: 'pg|orders.customer_id|p0|node1', position: 2 });
  assert.deepEqual(bucketOrder('pg|orders|k2|p0|node1'), { group: 'pg|orders|p0|node1', position: 2 });

  const specs = bucketsFor('pg', 'orders', keys.orders!);
  assert.deepEqual(
    specs.map((b) => b.seriesId),
    ['pg|orders|customer_id.k0', 'pg|orders|customer_id.k1', 'pg|orders|customer_id.k2', 'pg|orders|customer_id.k3'],
  );
  assert.deepEqual([specs[2]!.lo, specs[2]!.hi], [20, 30]);
});

test('a hashed key: ingest buckets the hash of point keys, ranges reach every bucket, decide plans the hash ranges', () => {
  const cuts = [-(2 ** 30), 0, 2 ** 30];
  const keys = currentKeys(CONFIGURED, [{ table: 'orders', column: 'id', bounds: cuts, hashed: true }]);
  assert.deepEqual(keys.orders, { column: 'id', bounds: cuts, bucketPrefix: 'hash_id', hashed: true });
  assert.ok(!sameKeys(keys, currentKeys(CONFIGURED, [{ table: 'orders', column: 'id', bounds: cuts, hashed: false }])));
  const ev = (sql: string) => queryEvent({ eventId: 'e', ts: 1, source: 'pg', dialect: 'postgres', sql, durationMs: 1 });
  const cache = new TemplateCache();
  const bucketOfHash = (id: number) => `hash_id.k${cuts.filter((c) => hashInt8(BigInt(id)) >= c).length}`;
  // sequential ids: neighbours in key order, spread over the hash's buckets
  const ids = [1000, 1001, 1002, 1003, 1004, 1005];
  const point = featurize(ev('SELECT * FROM orders WHERE id = 1001'), { partitionKeys: keys }, cache);
  assert.deepEqual(
    point.keyRanges.map((r) => [r.column, r.bucket]),
    [['hash(id)', bucketOfHash(1001)]],
  );
  const h = hashInt8(1001n);
  assert.deepEqual([point.keyRanges[0]!.lo, point.keyRanges[0]!.hi], [h, h]);
  assert.ok(new Set(ids.map(bucketOfHash)).size > 2, 'consecutive ids hash apart');
  const pair = ids
    .filter((id) => bucketOfHash(id) !== bucketOfHash(1000))
    .slice(0, 1)
    .concat(1000);
  const list = featurize(ev(`SELECT * FROM orders WHERE id IN (${pair.join(', ')})`), { partitionKeys: keys }, cache);
  assert.deepEqual(list.keyRanges.map((r) => r.bucket).sort(), pair.map(bucketOfHash).sort());
  // a range of ids may hold any hash
  const range = featurize(ev('SELECT * FROM orders WHERE id BETWEEN 1000 AND 1005'), { partitionKeys: keys }, cache);
  assert.deepEqual(
    range.keyRanges.map((r) => [r.column, r.bucket]),
    [['hash(id)', '*']],
  );
  const specs = bucketsFor('pg', 'orders', keys.orders!);
  assert.deepEqual(
    specs.map((b) => [b.seriesId, b.hi]),
    [
      ['pg|orders|hash_id.k0', -(2 ** 30)],
      ['pg|orders|hash_id.k1', 0],
      ['pg|orders|hash_id.k2', 2 ** 30],
      ['pg|orders|hash_id.k3', Number.MAX_SAFE_INTEGER],
    ],
  );
});
