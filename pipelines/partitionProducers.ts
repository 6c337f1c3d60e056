/**
 * One transactional producer per input partition a scaled-out stage owns, named after the
 * partition: the instance that takes a partition over opens its producer first, which fences
 * the one that had it (a paused or partitioned-away zombie can no longer commit for it) and
 * ends that one's open transaction, and only then reads what was committed for the partition.
 */
import type { Kafka } from '../lib/kafkajs.js';
import type { AvroSerde } from '../schemas/serde.js';
import { TopicProducer } from '../topics/producer.js';

export class PartitionProducers {
  private readonly producers = new Map<number, TopicProducer>();

  constructor(
    private readonly kafka: Kafka,
    private readonly serde: AvroSerde,
    /** Stable across instances and restarts: `<prefix>-<partition>` is the transactional id. */
    private readonly prefix: string,
  ) {}

  /** Opens (and so fences) the producer of `partition`. */
  async open(partition: number): Promise<TopicProducer> {
    await this.close(partition);
    const p = await TopicProducer.connect(this.kafka, this.serde, { transactionalId: `${this.prefix}-${partition}` });
    this.producers.set(partition, p);
    return p;
  }

  of(partition: number): TopicProducer | undefined {
    return this.producers.get(partition);
  }

  async close(partition: number): Promise<void> {
    const p = this.producers.get(partition);
    this.producers.delete(partition);
    await p?.disconnect().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    for (const partition of [...this.producers.keys()]) await this.close(partition);
  }
}
