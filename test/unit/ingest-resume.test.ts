import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resumeStateOf } from '../../pipelines/ingest.js';

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
