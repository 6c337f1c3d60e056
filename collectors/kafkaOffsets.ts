/**
 * One read of a Kafka cluster's offsets through the Admin API: high watermarks of the chosen
 * topics and the committed offsets of the chosen consumer groups on them (collectors/kafkaRates.ts
 * turns two reads into rates and lag). Internal topics are left out.
 */
import type { Admin } from '../lib/kafkajs.js';
import type { OffsetSnapshot } from './kafkaRates.js';

export interface OffsetSelection {
  /** Topics to read (default: every topic but internal ones). */
  topics?: (topic: string) => boolean;
  /** Consumer groups whose commits to read (default: every group). */
  groups?: (groupId: string) => boolean;
}

export async function readOffsets(admin: Admin, sel: OffsetSelection = {}, now: () => number = Date.now): Promise<OffsetSnapshot> {
  const names = (await admin.listTopics()).filter((t) => !t.startsWith('__') && (sel.topics?.(t) ?? true));
  const ts = now();
  const topics: OffsetSnapshot['topics'] = [];
  for (const topic of names) {
    try {
      const offs = await admin.fetchTopicOffsets(topic);
      topics.push({ topic, partitions: offs.map((o) => ({ partition: o.partition, high: Number(o.high) })) });
    } catch {
      // deleted between listing and reading: the next read sees it gone
    }
  }
  const groups: OffsetSnapshot['groups'] = [];
  const wanted = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => sel.groups?.(g) ?? true);
  const read = new Set(topics.map((t) => t.topic));
  for (const groupId of wanted) {
    const got = await admin.fetchOffsets({ groupId }).catch(() => []);
    for (const t of got) {
      if (!read.has(t.topic)) continue;
      for (const p of t.partitions) {
        const committed = Number(p.offset);
        if (committed >= 0) groups.push({ groupId, topic: t.topic, partition: p.partition, committed });
      }
    }
  }
  return { ts, topics, groups };
}
