/**
 * The producer SDK for applications that publish telemetry: typed QueryEvent / MetricSample,
 * schemas registered on connect, records batched (by count or linger time) and gzip-compressed,
 * idempotent sends. `flush()` resolves when everything handed over so far is acknowledged.
 */
import type { Config } from '../lib/config.js';
import type { MetricSample, QueryEvent } from '../schemas/types.js';
import { AvroSerde } from '../schemas/serde.js';
import { provisionTopics } from './admin.js';
import { TOPICS } from '../schemas/topics.js';
import { createKafka } from './kafka.js';
import { TopicProducer, type OutRecord } from './producer.js';

export interface PublisherOptions {
  batchSize?: number;
  lingerMs?: number;
  clientId?: string;
}

export class TelemetryPublisher {
  private queries: OutRecord<QueryEvent>[] = [];
  private metrics: OutRecord<MetricSample>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  sent = 0;

  private constructor(
    private readonly producer: TopicProducer,
    private readonly batchSize: number,
    private readonly lingerMs: number,
  ) {}

  static async connect(cfg: Config, opts: PublisherOptions = {}): Promise<TelemetryPublisher> {
    const kafka = createKafka(cfg, opts.clientId ?? 'shardcast-publisher');
    await provisionTopics(kafka, [TOPICS.queries, TOPICS.metrics]);
    const serde = AvroSerde.create(cfg);
    await serde.registerTopics([TOPICS.queries, TOPICS.metrics]);
    const producer = await TopicProducer.connect(kafka, serde);
    return new TelemetryPublisher(producer, opts.batchSize ?? 500, opts.lingerMs ?? 50);
  }

  publishQuery(e: QueryEvent): Promise<void> {
    this.queries.push({ key: e.source, value: e });
    return this.maybeFlush();
  }

  publishMetric(m: MetricSample): Promise<void> {
    this.metrics.push({ key: `${m.source}/${m.node}`, value: m });
    return this.maybeFlush();
  }

  private maybeFlush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.queries.length + this.metrics.length >= this.batchSize) return this.flush();
    this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.lingerMs);
    return Promise.resolve();
  }

  /** Sends what is buffered; resolves when it and everything before it is acknowledged. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = [
      { topic: TOPICS.queries.name, records: this.queries as OutRecord<unknown>[] },
      { topic: TOPICS.metrics.name, records: this.metrics as OutRecord<unknown>[] },
    ];
    const n = this.queries.length + this.metrics.length;
    this.queries = [];
    this.metrics = [];
    // Sends are chained so acknowledgements arrive in order and flush() covers all before it.
    this.inflight = this.inflight.then(async () => {
      if (n === 0) return;
      try {
        await this.producer.sendMany(batches);
        this.sent += n;
      } catch (err) {
        this.failure = err as Error;
        throw err;
      }
    });
    return this.inflight;
  }

  /** Flushes, then disconnects (also when the flush failed, which is then thrown). */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.producer.disconnect();
    }
  }
}
