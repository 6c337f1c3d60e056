import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkBySize } from '../../topics/producer.js';

const msg = (n: number, tag: string) => ({ key: tag, value: Buffer.alloc(n, 1) });

test('chunkBySize keeps every message, in order, in requests under the byte bound', () => {
  const batches = [
    { topic: 'a', messages: Array.from({ length: 50 }, (_, i) => msg(1000, `a${i}`)) },
    { topic: 'b', messages: Array.from({ length: 30 }, (_, i) => msg(3000, `b${i}`)) },
  ];
  const reqs = chunkBySize(batches, 10_000);
  const flat = reqs.flatMap((r) => r.flatMap((t) => t.messages.map((m) => `${t.topic}:${m.key}`)));
  assert.deepEqual(flat, [...batches[0]!.messages.map((m) => `a:${m.key}`), ...batches[1]!.messages.map((m) => `b:${m.key}`)]);
  for (const r of reqs) {
    const bytes = r.reduce((s, t) => s + t.messages.reduce((x, m) => x + (m.value as Buffer).length + String(m.key).length + 64, 0), 0);
    assert.ok(bytes <= 10_000, `request of ${bytes} bytes`);
  }
  assert.ok(reqs.length > 10);
});

test('chunkBySize sends a single oversized message alone rather than dropping it', () => {
  const reqs = chunkBySize([{ topic: 'a', messages: [msg(10, 'x'), msg(50_000, 'big'), msg(10, 'y')] }], 10_000);
  assert.deepEqual(
    reqs.map((r) => r.flatMap((t) => t.messages.map((m) => m.key))),
    [['x'], ['big'], ['y']],
  );
});

test('chunkBySize of nothing is no request', () => {
  assert.deepEqual(chunkBySize([{ topic: 'a', messages: [] }]), []);
});
