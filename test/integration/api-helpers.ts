/** Helpers for the API and operations-layer tests: read `shardcast.audit` (or another topic) from the real Kafka. */
import type { AuditEvent } from '../../console/ops/audit.js';
import type { Config } from '../../lib/config.js';
import { AvroSerde } from '../../schemas/serde.js';
import { TOPICS, type TopicSpec } from '../../schemas/topics.js';
import { provisionTopics } from '../../topics/admin.js';
import { createKafka } from '../../topics/kafka.js';
import { uniq } from './helpers.js';

/** Resolves with the first audit event matching `match`, or rejects after `timeoutMs`. */
export function consumeAudit(cfg: Config, match: (e: AuditEvent) => boolean, timeoutMs = 30_000): Promise<AuditEvent> {
  return consumeTopic(cfg, TOPICS.audit, match, timeoutMs);
}

/**
 * Resolves with the first record of `topic` (read from its beginning, decoded) matching `match`,
 * or rejects after `timeoutMs`.
 */
export async function consumeTopic<T>(cfg: Config, spec: TopicSpec, match: (e: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const kafka = createKafka(cfg, 'shardcast-console-test');
  // On a fresh stack the topic may not exist yet: subscribing to it would race its creation.
  await provisionTopics(kafka, [spec]);
  const serde = AvroSerde.create(cfg.schemaRegistryUrl);
  const consumer = kafka.consumer({ groupId: uniq('console-test') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: spec.name, fromBeginning: true });
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching record on ${spec.name} within ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            if (!message.value) return;
            // Other tests put bad bytes on the shared topics (the dead-letter corpus): not ours, skipped.
            const e = await serde.decode<T>(spec.name, message.value).catch(() => null);
            if (e !== null && match(e)) {
              clearTimeout(timer);
              resolve(e);
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}
