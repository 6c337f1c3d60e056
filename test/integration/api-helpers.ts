/** Helpers for the API and operations-layer tests: read `shardcast.audit` from the real Kafka. */
import type { AuditEvent } from '../../console/ops/audit.js';
import type { Config } from '../../lib/config.js';
import { AvroSerde } from '../../schemas/serde.js';
import { TOPICS } from '../../schemas/topics.js';
import { provisionTopics } from '../../topics/admin.js';
import { createKafka } from '../../topics/kafka.js';
import { uniq } from './helpers.js';

/**
 * Resolves with the first audit event matching `match`, read from the end of the topic as it was
 * when this was called, or rejects after `timeoutMs`. Call it before the write it waits for.
 */
export async function consumeAudit(cfg: Config, match: (e: AuditEvent) => boolean, timeoutMs = 30_000): Promise<AuditEvent> {
  const kafka = createKafka(cfg, 'shardcast-audit-test');
  // On a fresh stack the topic may not exist yet: subscribing to it would race its creation.
  await provisionTopics(kafka, [TOPICS.audit]);
  const serde = AvroSerde.create(cfg.schemaRegistryUrl);
  const consumer = kafka.consumer({ groupId: uniq('audit-test') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPICS.audit.name, fromBeginning: true });
    return await new Promise<AuditEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching audit event within ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            if (!message.value) return;
            const e = await serde.decode<AuditEvent>(TOPICS.audit.name, message.value);
            if (match(e)) {
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
