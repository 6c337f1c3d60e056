/**
 * kafkajs with its read-committed filter corrected (lib/kafkajsReadCommitted.ts): a fetch that
 * starts after the first offsets of two aborted transactions shows neither's messages, and
 * kafkajs's own Batch uses the corrected filter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import '../../lib/kafkajs.js';
import { withoutAbortedMessages, type FetchedMessage } from '../../lib/kafkajsReadCommitted.js';

const require = createRequire(import.meta.url);

const record = (offset: number, producerId: string, inTransaction = true): FetchedMessage & { value: string } => ({
  offset: String(offset),
  key: Buffer.from('k'),
  value: `${producerId}@${offset}`,
  isControlRecord: false,
  batchContext: { producerId, inTransaction },
});
const marker = (offset: number, producerId: string, type: 0 | 1): FetchedMessage & { value: string } => ({
  offset: String(offset),
  key: Buffer.from([0, 0, 0, type]),
  value: `marker ${producerId}@${offset}`,
  isControlRecord: true,
  batchContext: { producerId, inTransaction: true },
});

// producers 1 and 2 both fenced mid-transaction (begun at 5 and 8); producer 3 committed; a
// non-transactional record at 15; the fetch starts at 10
const fetched = [
  record(10, '2'),
  record(11, '1'),
  record(12, '3'),
  marker(13, '1', 0),
  record(14, '2'),
  record(15, '9', false),
  marker(16, '2', 0),
  marker(17, '3', 1),
  record(18, '1'),
  marker(19, '1', 1),
];
const aborted = [
  { producerId: '1', firstOffset: '5' },
  { producerId: '2', firstOffset: '8' },
];
const committed = ['3@12', '9@15', '1@18'];

test('messages of every aborted transaction begun before the fetch are dropped; the rest stay', () => {
  const kept = withoutAbortedMessages({ messages: fetched, abortedTransactions: aborted }).filter((m) => !m.isControlRecord);
  assert.deepEqual(
    kept.map((m) => m.value),
    committed,
  );
  // the order the broker lists them in does not matter
  const reversed = withoutAbortedMessages({ messages: fetched, abortedTransactions: [...aborted].reverse() });
  assert.deepEqual(
    reversed.filter((m) => !m.isControlRecord).map((m) => m.value),
    committed,
  );
});

test('a producer aborted once and committed later keeps its later transaction', () => {
  const kept = withoutAbortedMessages({
    messages: [record(3, '1'), marker(4, '1', 0), record(5, '1'), marker(6, '1', 1)],
    abortedTransactions: [{ producerId: '1', firstOffset: '3' }],
  });
  assert.deepEqual(
    kept.filter((m) => !m.isControlRecord).map((m) => m.value),
    ['1@5'],
  );
});

test("kafkajs's Batch filters with the corrected filter", () => {
  const Batch = require('kafkajs/src/consumer/batch.js') as new (
    topic: string,
    fetchedOffset: string,
    partitionData: { partition: number; highWatermark: string; abortedTransactions: typeof aborted; messages: typeof fetched },
  ) => { messages: { value: string }[] };
  const batch = new Batch('t', '10', { partition: 0, highWatermark: '20', abortedTransactions: aborted, messages: fetched });
  assert.deepEqual(
    batch.messages.map((m) => m.value),
    committed,
  );
});
