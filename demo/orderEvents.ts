/**
 * The demo's Kafka workload: a topic of order events, made for the run with one partition,
 * produced to at the demo's rate, and watched by the Kafka metrics collector, so the decide
 * stage sees its produce rate forecast rise past what one partition carries and adds partitions.
 */
import type { Kafka, Producer } from '../lib/kafkajs.js';
import type { Config } from '../lib/config.js';
import { startKafkaMetrics, type RunningKafkaMetrics } from '../pipelines/collectKafka.js';

/** Records per second one partition of the demo topic is planned to carry (sized to the demo's rate, as the node capacity is). */
export const DEMO_RECORDS_PER_PARTITION = 20;

export interface OrderEvents {
  topic: string;
  /** Produces about `perSecond` records over the next `seconds` (bounded, returns when done). */
  produce(perSecond: number, seconds: number): Promise<number>;
  metrics: RunningKafkaMetrics;
  stop(): Promise<void>;
}

export async function startOrderEvents(cfg: Config, kafka: Kafka, runId: string): Promise<OrderEvents> {
  const topic = `demo.order-events.${runId}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const producer: Producer = kafka.producer();
  await producer.connect();
  const metrics = await startKafkaMetrics(cfg, { topics: (t) => t === topic, groups: () => false, intervalMs: 1_000 });
  let sent = 0;
  return {
    topic,
    metrics,
    async produce(perSecond, seconds) {
      const ticks = Math.max(1, Math.round(seconds * 5));
      const per = Math.max(1, Math.round(perSecond / 5));
      for (let i = 0; i < ticks; i++) {
        const t0 = Date.now();
        await producer.send({ topic, messages: Array.from({ length: per }, () => ({ value: `order ${sent++}` })) });
        await new Promise((r) => setTimeout(r, Math.max(0, 200 - (Date.now() - t0))));
      }
      return sent;
    },
    async stop() {
      await metrics.stop();
      await producer.disconnect();
      // the run's topic goes with the run (best effort: the stack may be going down)
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}
