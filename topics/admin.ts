/** Idempotent provisioning of the topic catalog on a cluster. */
import type { Kafka } from '../lib/kafkajs.js';
import { ALL_TOPICS, type TopicSpec } from '../schemas/topics.js';

export interface ProvisionReport {
  created: string[];
  existing: string[];
}

export async function provisionTopics(kafka: Kafka, topics: readonly TopicSpec[] = ALL_TOPICS): Promise<ProvisionReport> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const have = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !have.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: 1,
          configEntries: [
            { name: 'retention.ms', value: String(t.retentionMs) },
            { name: 'cleanup.policy', value: t.compacted ? 'compact' : 'delete' },
            ...(t.maxMessageBytes ? [{ name: 'max.message.bytes', value: String(t.maxMessageBytes) }] : []),
            ...(t.segmentBytes ? [{ name: 'segment.bytes', value: String(t.segmentBytes) }] : []),
          ],
        })),
      });
    }
    return {
      created: missing.map((t) => t.name),
      existing: topics.filter((t) => have.has(t.name)).map((t) => t.name),
    };
  } finally {
    await admin.disconnect();
  }
}

/** Commits the end of each topic for each (new) group, so its first fetch starts there. */
export async function startGroupsAtEnd(kafka: Kafka, groups: [string, string[]][]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const [groupId, topics] of groups) {
      for (const topic of topics) {
        // explicit offsets: kafkajs's resetOffsets writes a "latest" marker that a consumer
        // with fromBeginning reads as "no offset" and starts from the beginning after all
        const ends = await admin.fetchTopicOffsets(topic);
        await admin.setOffsets({ groupId, topic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })) });
      }
    }
  } finally {
    await admin.disconnect();
  }
}
