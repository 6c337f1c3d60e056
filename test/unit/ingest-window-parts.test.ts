import { DEFAULT_PROFILE_LIMITS } from '../../processors/ingest/templateProfile.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionWatermarks } from '../../processors/ingest/watermark.js';
import { SafeOffsets } from '../../processors/ingest/safeOffsets.js';
import { recordCoAccess, type TransactionTargets } from '../../processors/ingest/coAccess.js';
import { newSeries, type SeriesState } from '../../processors/ingest/series.js';

test('watermark: the slowest active partition minus lateness; an idle one stops holding it', () => {
  let now = 0;
  const wm = new PartitionWatermarks(1000, 5000, () => now);
  assert.equal(wm.current, -Infinity);
  const a = wm.observe('q:0', null, 20_000, now);
  wm.observe('q:1', null, 8000, now);
  assert.equal(wm.at(now), 7000);
  now = 6000;
  wm.observe('q:0', a, 21_000, now);
  // q:1 silent for 6 s of processing time: q:0 alone holds the watermark
  assert.equal(wm.at(now), 20_000);
  assert.equal(wm.last, wm.current);
});

test('watermark: an assigned partition that has not delivered holds it back; advanceAll needs an event', () => {
  const wm = new PartitionWatermarks(0, 5000, null);
  wm.assign(new Set(['q:0', 'q:1']), 0);
  assert.equal(wm.advanceAll(1000), false);
  wm.observe('q:0', wm.frontOf('q:0'), 30_000, 0);
  assert.equal(wm.at(0), -Infinity, 'q:1 may still deliver older events');
  assert.equal(wm.advanceAll(1000), true);
  assert.equal(wm.at(0), 31_000, 'a quiet source: every front moves to the newest plus the step');
  wm.assign(new Set(['q:0']), 0);
  assert.equal(wm.size, 1);
});

test('safe offsets: below the first offset an open window holds; reported when they change, with resume on request', () => {
  const offsets = new SafeOffsets();
  offsets.seen('q:0', 4);
  offsets.seen('q:1', 9);
  const open = new Map([[0, { firstOffsets: new Map([['q:0', 3]]) }]]);
  assert.deepEqual(offsets.progress(open, false, 0), { safeOffsets: { 'q:0': '2', 'q:1': '9' } });
  assert.equal(offsets.progress(open, false, 0), null, 'unchanged: nothing to report');
  assert.deepEqual(offsets.progress(open, true, 10_000), {
    safeOffsets: { 'q:0': '2', 'q:1': '9' },
    resume: { closedThrough: 10_000, seenThrough: { 'q:0': 4, 'q:1': 9 } },
  });
  offsets.resume({ 'q:0': 4 });
  assert.equal(offsets.isReplay('q:0', 4), true);
  assert.equal(offsets.isReplay('q:0', 5), false);
  assert.equal(offsets.isReplay('q:1', 0), false);
});

test('co-access: targets of one query count each other; a transaction links its queries, forgetting the oldest beyond maxTx', () => {
  const limits = { hotKeysPerSeries: 4, coAccessPerSeries: 4, relativeAccuracy: 0.01, sketchBinLimit: 64, profile: DEFAULT_PROFILE_LIMITS };
  const series = (id: string): SeriesState =>
    newSeries({ seriesId: id, source: 's', table: id, keyBucket: '*', partition: null, node: null }, limits);
  const [a, b, c] = [series('a'), series('b'), series('c')];
  const others = (s: SeriesState) =>
    s.co
      .top()
      .map((h) => h.key)
      .sort();
  const txs: TransactionTargets = new Map();
  recordCoAccess(
    new Map([
      ['a|*', a],
      ['b|*', b],
    ]),
    null,
    txs,
    2,
  );
  assert.deepEqual(others(a), ['b|*']);
  assert.equal(txs.size, 0);
  recordCoAccess(new Map([['c|*', c]]), 'tx1', txs, 2);
  recordCoAccess(new Map([['a|*', a]]), 'tx1', txs, 2);
  assert.deepEqual(others(c), ['a|*'], 'the transaction touched c, then a');
  recordCoAccess(new Map([['b|*', b]]), 'tx2', txs, 2);
  recordCoAccess(new Map([['b|*', b]]), 'tx3', txs, 2);
  assert.deepEqual([...txs.keys()], ['tx2', 'tx3'], 'tx1 forgotten');
});
