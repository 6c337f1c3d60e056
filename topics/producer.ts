/**
 * Typed producer: values are encoded with the topic's registered Avro schema, sent in batches
 * with gzip compression, idempotently (no duplicates from producer retries), and every send is
 * awaited so callers know their records were acknowledged before committing input offsets.
 */
import { CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { AvroSerde } from '../schemas/serde.js';

export interface OutRecord<T> {
  key: string | Buffer | null;
  value: T;
}

export class TopicProducer {
  private constructor(
    private readonly producer: Producer,
    private readonly serde: AvroSerde,
  ) {}

  static async connect(kafka: Kafka, serde: AvroSerde): Promise<TopicProducer> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    return new TopicProducer(producer, serde);
  }

  /** Encodes and sends records to one topic; resolves once the broker acknowledged all. */
  async send<T>(topic: string, records: readonly OutRecord<T>[]): Promise<void> {
    if (records.length === 0) return;
    await this.producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: records.map((r) => ({ key: r.key, value: this.serde.encode(topic, r.value) })),
    });
  }

  /** Sends already-encoded bytes (the raw-ceiling benchmark, garbage injection in tests). */
  async sendRaw(topic: string, messages: { key: string | Buffer | null; value: Buffer | null }[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
  }

  /** Sends to several topics in one request. */
  async sendMany(batches: { topic: string; records: readonly OutRecord<unknown>[] }[]): Promise<void> {
    const topicMessages = batches
      .filter((b) => b.records.length > 0)
      .map((b) => ({
        topic: b.topic,
        messages: b.records.map((r) => ({ key: r.key, value: this.serde.encode(b.topic, r.value) })),
      }));
    if (topicMessages.length === 0) return;
    await this.producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.GZIP });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}
