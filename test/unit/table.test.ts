import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable } from '../../lib/table.js';

test('numbers (and numeric strings) are right-aligned, text left-aligned, headers follow their column', () => {
  const out = formatTable([
    { node: 'node0', queries: '12', share: 0.5 },
    { node: 'node10', queries: '1234', share: 1 },
  ]);
  assert.equal(out, ['node    queries  share', '------  -------  -----', 'node0        12  0.500', 'node10     1234  1.000'].join('\n'));
});

test('columns are the union of the rows keys; missing and null cells are blank; indent applies to each line', () => {
  const out = formatTable([{ a: 'x' }, { a: 'y', b: null }, { b: 3 }], { indent: '  ' });
  const lines = out.split('\n');
  assert.equal(lines[0], '  a  b');
  assert.equal(lines[2], '  x');
  assert.equal(lines[4], '     3');
  assert.equal(formatTable([], { indent: '  ' }), '  (no rows)');
});

test('a column mixing numbers and words is left-aligned; objects print as JSON', () => {
  const out = formatTable([
    { v: 1, o: { k: 1 } },
    { v: 'n/a', o: [1, 2] },
  ]);
  assert.deepEqual(out.split('\n').slice(2), ['1    {"k":1}', 'n/a  [1,2]']);
});
