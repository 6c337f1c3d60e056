/**
 * What every pipeline process needs before it can move a message: the config, a Kafka client,
 * the topics provisioned, the Avro schemas registered, and a connected producer.
 */
import type { Kafka } from '../lib/kafkajs.js';
import { loadConfig, type Config } from '../lib/config.js';
import { logger, type Logger } from '../lib/log.js';
import { AvroSerde } from '../schemas/serde.js';
import { provisionTopics } from '../topics/admin.js';
import { createKafka } from '../topics/kafka.js';
import { TopicProducer } from '../topics/producer.js';

export interface PipelineContext {
  cfg: Config;
  kafka: Kafka;
  serde: AvroSerde;
  producer: TopicProducer;
  log: Logger;
  close(): Promise<void>;
}

export async function openContext(name: string, cfg: Config = loadConfig()): Promise<PipelineContext> {
  const log = logger(name);
  const kafka = createKafka(cfg, `shardcast-${name}`);
  await provisionTopics(kafka);
  const serde = AvroSerde.create(cfg);
  await serde.registerTopics();
  const producer = await TopicProducer.connect(kafka, serde);
  return {
    cfg,
    kafka,
    serde,
    producer,
    log,
    async close() {
      await producer.disconnect();
    },
  };
}
