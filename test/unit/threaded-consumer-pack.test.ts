import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { packBatch, unpackBatch } from '../../topics/threadedConsumer.js';
import type { Envelope } from '../../schemas/envelope.js';

const bytes = fc.option(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  { nil: null },
);

test('unpack(pack(chunk)) gives back every key, value, offset and position, nulls and empty buffers included', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ key: bytes, value: bytes }), { minLength: 1, maxLength: 40 }),
      fc.bigInt({ min: 0n, max: 2n ** 62n }),
      fc.nat({ max: 11 }),
      (msgs, base, partition) => {
        const envs: Envelope<Buffer | null>[] = msgs.map((m, i) => ({
          topic: 't.x',
          partition,
          offset: String(base + BigInt(i * 3)),
          key: m.key,
          value: m.value,
          raw: m.value,
        }));
        const { batch, transfer } = packBatch(envs);
        assert.ok(transfer.includes(batch.bytes.buffer as ArrayBuffer), 'the bytes move rather than copy');
        const back = unpackBatch(batch);
        assert.equal(back.length, envs.length);
        for (let i = 0; i < envs.length; i++) {
          const a = envs[i]!;
          const b = back[i]!;
          assert.equal(b.topic, a.topic);
          assert.equal(b.partition, a.partition);
          assert.equal(b.offset, a.offset, 'offsets stay exact, also beyond 2^53');
          assert.deepEqual(b.key === null ? null : Buffer.from(b.key), a.key === null ? null : Buffer.from(a.key));
          assert.deepEqual(b.value === null ? null : Buffer.from(b.value), a.value === null ? null : Buffer.from(a.value));
          assert.equal(b.raw, b.value);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('offsets below 2^53 travel as numbers, larger ones as strings', () => {
  const env = (offset: string): Envelope<Buffer | null> => ({
    topic: 't',
    partition: 0,
    offset,
    key: null,
    value: Buffer.from([1]),
    raw: null,
  });
  assert.ok(packBatch([env('0'), env('9007199254740991')]).batch.offsets instanceof Float64Array);
  const big = packBatch([env('1'), env('9007199254740993')]).batch;
  assert.deepEqual(big.offsets, ['1', '9007199254740993']);
  assert.deepEqual(
    unpackBatch(big).map((e) => e.offset),
    ['1', '9007199254740993'],
  );
});
