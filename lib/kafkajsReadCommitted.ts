/**
 * A corrected read-committed filter for kafkajs (2.2.4), installed in place of its own
 * (src/consumer/filterAbortedMessages.js) before kafkajs loads; lib/kafkajs.ts imports this
 * first. kafkajs marks at most one aborted transaction per message it looks at, so when a fetch
 * starts after the first offsets of two aborted transactions (a takeover reading from a committed
 * offset, after two producers were fenced), a message of the second one passes as committed: a
 * downstream stage counted it twice. This one, as Kafka's Java consumer does, marks every aborted
 * transaction that began at or before each message. No maintained kafkajs release fixes it, and
 * there is no hook to pass a filter in. See docs/decisions/0137-kafkajs-read-committed.md.
 */
import { createRequire, Module } from 'node:module';
import { StateError } from './errors.js';

/** A fetched message as kafkajs's Batch holds it (the fields the filter reads). */
export interface FetchedMessage {
  offset: string;
  key?: Buffer | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string | number; inTransaction: boolean };
}

/** An aborted transaction as a fetch response lists it: its producer and first offset. */
export interface AbortedTransaction {
  producerId: string | number;
  firstOffset: string;
}

/** A control record's key is (version int16, type int16); type 0 ends a transaction as aborted. */
const isAbortMarker = (m: FetchedMessage) => m.isControlRecord === true && !!m.key && m.key.length >= 4 && m.key.readInt16BE(2) === 0;

/**
 * The messages of one fetched partition without those of aborted transactions (control records
 * stay: kafkajs drops them after). Messages are in offset order.
 */
export function withoutAbortedMessages<M extends FetchedMessage>({
  messages,
  abortedTransactions,
}: {
  messages: M[];
  abortedTransactions?: AbortedTransaction[] | null;
}): M[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const starts = abortedTransactions
    .map((t) => ({ producer: String(t.producerId), first: BigInt(t.firstOffset) }))
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const aborting = new Set<string>();
  let next = 0;
  return messages.filter((m) => {
    const at = BigInt(m.offset);
    while (next < starts.length && starts[next]!.first <= at) aborting.add(starts[next++]!.producer);
    const producer = String(m.batchContext.producerId);
    if (isAbortMarker(m)) {
      aborting.delete(producer);
      return true;
    }
    return !(m.batchContext.inTransaction && aborting.has(producer));
  });
}

const require = createRequire(import.meta.url);
const filterPath = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
const batchPath = require.resolve('kafkajs/src/consumer/batch.js');
/** The id the corrected filter's module carries in the require cache. */
const CORRECTED = 'shardcast:read-committed-filter';
if (require.cache[filterPath]?.id !== CORRECTED) {
  if (require.cache[batchPath]) {
    throw new StateError('kafkajs was loaded before its read-committed filter was corrected: import kafkajs through lib/kafkajs.ts only');
  }
  const fixed = new Module(CORRECTED);
  fixed.filename = filterPath;
  fixed.loaded = true;
  fixed.exports = withoutAbortedMessages;
  require.cache[filterPath] = fixed;
}
