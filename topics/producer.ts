/**
 * Typed producer: values are encoded with the topic's registered Avro schema, sent in batches
 * with gzip compression, idempotently (no duplicates from producer retries), and every send is
 * awaited so callers know their records were acknowledged before committing input offsets.
 * A transactional producer also commits a consumer group's input offsets in the same Kafka
 * transaction as the records (consume → produce exactly once, as Kafka Streams does).
 */
import { CompressionTypes, type IHeaders, type Kafka, type Message, Partitioners, type Producer } from '../lib/kafkajs.js';
import type { AvroSerde } from '../schemas/serde.js';
import { CommitOutcomeUnknown, isFenced } from './transactionOutcome.js';

export interface OutRecord<T> {
  key: string | Buffer | null;
  value: T;
  /** Explicit partition; by default the key's hash picks it. */
  partition?: number;
  /** Record headers made from the encoded value (a signature over its exact bytes). */
  headers?: (encoded: Buffer) => IHeaders;
}

/**
 * Most encoded bytes per produce request. The broker refuses a record batch over its
 * `message.max.bytes` (1 MiB by default) with MESSAGE_TOO_LARGE, and kafkajs does not split
 * requests itself; bounding the uncompressed size bounds the compressed one.
 */
export const MAX_REQUEST_BYTES = 768 * 1024;

type TopicMessages = { topic: string; messages: Message[] };

/** Splits topic messages into requests of at most `maxBytes` encoded bytes each, order kept. */
export function chunkBySize(batches: TopicMessages[], maxBytes = MAX_REQUEST_BYTES): TopicMessages[][] {
  const requests: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let bytes = 0;
  for (const b of batches) {
    let part: TopicMessages | null = null;
    for (const m of b.messages) {
      const size = sizeOf(m.value) + sizeOf(m.key) + 64;
      if (bytes + size > maxBytes && bytes > 0) {
        requests.push(current);
        current = [];
        bytes = 0;
        part = null;
      }
      if (!part) {
        part = { topic: b.topic, messages: [] };
        current.push(part);
      }
      part.messages.push(m);
      bytes += size;
    }
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

function sizeOf(v: Message['value'] | Message['key']): number {
  return v == null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

export class TopicProducer {
  /** A transaction whose abort did not reach the broker: the producer is replaced before the next one. */
  private unfinished = false;

  private constructor(
    private producer: Producer,
    private readonly serde: AvroSerde,
    private readonly kafka: Kafka,
    private readonly transactionalId: string | undefined,
  ) {}

  /**
   * `transactionalId` makes the producer transactional (`sendInTransaction`). Connecting with an id
   * fences any earlier producer with the same id and aborts its open transaction: a restarted
   * stage cannot be overtaken by its own zombie.
   */
  static async connect(kafka: Kafka, serde: AvroSerde, opts: { transactionalId?: string } = {}): Promise<TopicProducer> {
    return new TopicProducer(await TopicProducer.open(kafka, opts.transactionalId), serde, kafka, opts.transactionalId);
  }

  private static async open(kafka: Kafka, transactionalId: string | undefined): Promise<Producer> {
    // the default partitioner, named so kafkajs does not warn about its v2 change on every start
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...(transactionalId ? { transactionalId } : {}),
    });
    await producer.connect();
    if (transactionalId) {
      // kafkajs registers the transactional id (InitProducerId) only when a first transaction
      // begins; until then the producer it replaces is not fenced and may still commit. An empty
      // transaction registers it now (its abort sends nothing to the broker).
      try {
        await (await producer.transaction()).abort();
      } catch (err) {
        await producer.disconnect().catch(() => undefined);
        throw err;
      }
    }
    return producer;
  }

  /** Encodes and sends records to one topic; resolves once the broker acknowledged all. */
  async send<T>(topic: string, records: readonly OutRecord<T>[]): Promise<void> {
    if (records.length === 0) return;
    await this.sendRequests([{ topic, messages: records.map((r) => this.message(topic, r)) }]);
  }

  /** Sends already-encoded bytes (the raw-ceiling benchmark, garbage injection in tests). */
  async sendRaw(
    topic: string,
    messages: { key: string | Buffer | null; value: Buffer | null; partition?: number; headers?: IHeaders }[],
  ): Promise<void> {
    if (messages.length === 0) return;
    await this.sendRequests([{ topic, messages }]);
  }

  /** Sends to several topics in one request. */
  async sendMany(batches: { topic: string; records: readonly OutRecord<unknown>[] }[]): Promise<void> {
    const topicMessages = batches
      .filter((b) => b.records.length > 0)
      .map((b) => ({
        topic: b.topic,
        messages: b.records.map((r) => this.message(b.topic, r)),
      }));
    await this.sendRequests(topicMessages);
  }

  /**
   * Sends records and commits `groupId`'s positions (the last offsets handled) in one transaction;
   * `beforeCommit` runs after everything was sent and before the commit (a stage saves the state
   * those positions stand for). Read-committed consumers see the records only if the offsets
   * committed too. Any failure aborts the transaction and is thrown; a failed commit, whose
   * outcome the broker did not tell, as CommitOutcomeUnknown (the caller settles it with
   * `settle` and the committed offsets before redoing it).
   */
  async sendInTransaction(
    batches: { topic: string; records: readonly OutRecord<unknown>[] }[],
    commit: { groupId: string; positions: readonly { topic: string; partition: number; offset: string; metadata?: string }[] },
    beforeCommit?: () => Promise<void>,
  ): Promise<void> {
    await this.settle();
    const topicMessages = batches
      .filter((b) => b.records.length > 0)
      .map((b) => ({ topic: b.topic, messages: b.records.map((r) => this.message(b.topic, r)) }));
    const txn = await this.producer.transaction();
    let committing = false;
    try {
      for (const chunk of chunkBySize(topicMessages)) {
        await txn.sendBatch({ topicMessages: chunk, acks: -1, compression: CompressionTypes.GZIP });
      }
      const byTopic = new Map<string, { partition: number; offset: string; metadata?: string }[]>();
      for (const p of commit.positions) {
        const list = byTopic.get(p.topic) ?? [];
        const offset = (BigInt(p.offset) + 1n).toString();
        list.push(p.metadata === undefined ? { partition: p.partition, offset } : { partition: p.partition, offset, metadata: p.metadata });
        byTopic.set(p.topic, list);
      }
      if (byTopic.size > 0) {
        await txn.sendOffsets({
          consumerGroupId: commit.groupId,
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        });
      }
      await beforeCommit?.();
      committing = true;
      await txn.commit();
    } catch (err) {
      if (committing && !isFenced(err)) {
        this.unfinished = true;
        const why = err instanceof Error ? err.message : String(err);
        throw new CommitOutcomeUnknown(`a transaction's commit failed without telling whether it took effect: ${why}`, { cause: err });
      }
      // Whatever reached the broker in this transaction is discarded with it: a caller retrying
      // redoes the whole transaction, so a send retried inside it cannot leave a duplicate.
      if (txn.isActive()) {
        await txn.abort().catch(() => {
          this.unfinished = true;
        });
      }
      throw err;
    }
  }

  /**
   * Ends a transaction left unfinished (a failed abort or commit) before anything else: a fresh
   * producer with the same id bumps its epoch, and the coordinator completes or aborts that
   * transaction before it answers. Afterwards the committed offsets tell its outcome.
   */
  async settle(): Promise<void> {
    if (!this.unfinished) return;
    await this.producer.disconnect().catch(() => undefined);
    this.producer = await TopicProducer.open(this.kafka, this.transactionalId);
    this.unfinished = false;
  }

  private message(topic: string, r: OutRecord<unknown>): Message {
    const value = this.serde.encode(topic, r.value);
    const m: Message = r.headers ? { key: r.key, value, headers: r.headers(value) } : { key: r.key, value };
    if (r.partition !== undefined) m.partition = r.partition;
    return m;
  }

  /** One produce request per size-bounded chunk, in order, each acknowledged before the next. */
  private async sendRequests(topicMessages: TopicMessages[]): Promise<void> {
    for (const chunk of chunkBySize(topicMessages)) {
      await this.producer.sendBatch({ topicMessages: chunk, acks: -1, compression: CompressionTypes.GZIP });
    }
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}
