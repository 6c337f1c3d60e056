import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commitPositions, resumeStateOf } from '../../processors/ingest/commitMetadata.js';

test('resumeStateOf reads the committed offset metadata of every partition', () => {
  const st = resumeStateOf([
    { topic: 'q', partition: 0, metadata: JSON.stringify({ v: 1, closedThrough: 20_000, seenThrough: { 'q:0': 41 } }) },
    { topic: 'q', partition: 1, metadata: JSON.stringify({ v: 1, closedThrough: 30_000, seenThrough: { 'q:1': 7 } }) },
    { topic: 'q', partition: 2, metadata: null },
  ]);
  assert.deepEqual(st, { closedThrough: 30_000, seenThrough: { 'q:0': 41, 'q:1': 7 } });
});

test('resumeStateOf ignores foreign or damaged metadata instead of failing', () => {
  assert.equal(
    resumeStateOf([
      { topic: 'q', partition: 0, metadata: 'not json' },
      { topic: 'q', partition: 1, metadata: '{"v":9}' },
    ]),
    undefined,
  );
  assert.equal(resumeStateOf([]), undefined);
});

test("commitPositions and resumeStateOf round-trip the resume state through each partition's metadata", () => {
  const resume = { closedThrough: 40_000, seenThrough: { 'q:0': 12, 'shard.q:1': 30 } };
  const positions = commitPositions({ safeOffsets: { 'q:0': '9', 'shard.q:1': '25' }, resume });
  assert.deepEqual(
    positions.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
    [
      { topic: 'q', partition: 0, offset: '9' },
      { topic: 'shard.q', partition: 1, offset: '25' },
    ],
  );
  assert.deepEqual(resumeStateOf(positions.map((p) => ({ ...p, metadata: p.metadata ?? null }))), resume);
  // without a resume state there is no metadata to write
  assert.ok(commitPositions({ safeOffsets: { 'q:0': '9' } }).every((p) => p.metadata === undefined));
});
