import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedeliveryFilter } from '../../analytics/redelivery.js';

const rec = (topic: string, partition: number, offset: number) => ({ topic, partition, offset: String(offset) });

test('records already stored are dropped, the rest pass in order', async () => {
  const f = new RedeliveryFilter(async () => new Set(['0:1', '0:2', '1:7']));
  const batch = [rec('a', 0, 1), rec('a', 0, 2), rec('a', 0, 3), rec('a', 1, 7), rec('a', 1, 8)];
  assert.deepEqual(await f.keep(batch), [rec('a', 0, 3), rec('a', 1, 8)]);
  assert.equal(f.skipped, 3);
});

test('one lookup per topic for its new partitions, none again until the next assignment', async () => {
  const calls: [string, number[]][] = [];
  const f = new RedeliveryFilter(async (topic, parts) => {
    calls.push([topic, [...parts].sort()]);
    return new Set<string>();
  });
  await Promise.all([f.keep([rec('a', 0, 1), rec('a', 1, 1), rec('b', 0, 1)]), f.keep([rec('a', 0, 2)])]);
  await f.keep([rec('a', 0, 3), rec('a', 2, 1)]);
  assert.deepEqual(calls, [
    ['a', [0, 1]],
    ['b', [0]],
    ['a', [2]],
  ]);
  f.reassigned();
  await f.keep([rec('a', 0, 4)]);
  assert.deepEqual(calls.at(-1), ['a', [0]]);
});

test('a failed lookup is asked again on the retry, not remembered', async () => {
  let fail = true;
  const f = new RedeliveryFilter(async () => {
    if (fail) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return new Set(['0:5']);
  });
  await assert.rejects(f.keep([rec('a', 0, 5)]), /ECONNREFUSED/);
  fail = false;
  assert.deepEqual(await f.keep([rec('a', 0, 5), rec('a', 0, 6)]), [rec('a', 0, 6)]);
});

test('a reassignment while a batch waits for its lookup does not lose the batch (the sink crashed on it)', async () => {
  let release: (s: Set<string>) => void = () => undefined;
  const f = new RedeliveryFilter(() => new Promise<Set<string>>((r) => (release = r)));
  const kept = f.keep([rec('a', 0, 1), rec('a', 0, 2)]);
  f.reassigned(); // the group rebalanced meanwhile
  release(new Set(['0:1']));
  assert.deepEqual(await kept, [rec('a', 0, 2)]);
});
