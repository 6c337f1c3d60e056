/**
 * Introspection of the Kafka cluster (source kind 'streaming'): brokers as nodes, every topic
 * but the internal ones with its partition count, replication factor and cleanup policy, and
 * one hash Partition per topic partition (bucket i of n: the default partitioner's murmur2),
 * placed on its leader with the other replicas as replicas, its message count the difference
 * of its high and low offsets.
 *
 * Scopes: `kafka/<topic>/` per topic, `kafka-brokers/` for the brokers.
 */
import kafkajs, { type Admin, type Kafka } from '../lib/kafkajs.js';
import type { Config } from '../lib/config.js';
import { createKafka } from '../topics/kafka.js';
import type { Snapshot } from './snapshot.js';
import type { DiscoveryTarget, SourceDiscovery } from './source.js';

// kafkajs is CommonJS and this enum is not among the names Node can import from it directly.
const { ConfigResourceTypes } = kafkajs;

export const KAFKA_SOURCE = 'kafka';

export const brokerName = (id: number) => `broker${id}`;

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export class KafkaDiscovery implements SourceDiscovery {
  readonly kind = 'kafka' as const;
  readonly source: string;
  private readonly kafka: Kafka;

  constructor(
    private readonly cfg: Pick<Config, 'kafkaBrokers'>,
    private readonly opts: { source?: string; costPerGbMonth?: number } = {},
  ) {
    this.source = opts.source ?? KAFKA_SOURCE;
    this.kafka = createKafka(cfg, 'shardcast-catalog');
  }

  /** Every topic, or one (`target.topic`). */
  async snapshot(target: DiscoveryTarget = {}): Promise<Snapshot> {
    // A fresh admin client per discovery: kafkajs keeps asking the brokers for every topic an
    // admin has looked at, and a deleted one would be an error in each later request.
    // Few retries: a topic deleted between listing and reading its offsets must not stall
    // discovery for the client's full retry budget; the next discovery sees it gone.
    const admin = this.kafka.admin({ retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1_000 } });
    await admin.connect();
    try {
      return await this.read(admin, target);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private async read(admin: Admin, target: DiscoveryTarget): Promise<Snapshot> {
    const src = this.source;
    const t0 = performance.now();
    const cluster = await admin.describeCluster();
    const latency = Math.round((performance.now() - t0) * 100) / 100;
    // Metadata of every topic in one request: naming topics makes a deleted one an error.
    const meta = (await admin.fetchTopicMetadata()).topics.filter(
      (t) => !t.name.startsWith('__') && (target.topic === undefined || t.name === target.topic),
    );
    const offsets = await pool(meta, 4, async (t) => {
      try {
        return await admin.fetchTopicOffsets(t.name);
      } catch {
        return null; // deleted meanwhile: the next discovery sees it gone
      }
    });
    const policies = new Map<string, string>();
    if (meta.length > 0) {
      const cfgs = await admin
        .describeConfigs({
          resources: meta.map((t) => ({ type: ConfigResourceTypes.TOPIC, name: t.name, configNames: ['cleanup.policy'] })),
          includeSynonyms: false,
        })
        .catch(() => ({ resources: [] as { resourceName: string; configEntries: { configName: string; configValue: string }[] }[] }));
      for (const r of cfgs.resources)
        policies.set(r.resourceName, r.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? '');
    }
    const endpoint = this.cfg.kafkaBrokers.join(',');
    const snap: Snapshot = {
      source: { id: src, kind: 'streaming', engine: 'kafka', endpoint, latencyMs: latency, costPerGbMonth: this.opts.costPerGbMonth },
      scopes: target.topic !== undefined ? [`kafka/${target.topic}/`] : ['kafka/', 'kafka-brokers/'],
      nodes: cluster.brokers.map((b) => ({
        name: brokerName(b.nodeId),
        endpoint: `${b.host}:${b.port}`,
        state: 'active',
        scope: 'kafka-brokers/',
      })),
      databases: [],
      tables: [],
      partitions: [],
      topics: [],
      lineage: [],
      unreachable: [],
    };
    meta.forEach((t, i) => {
      const offs = offsets[i];
      if (offs === null || offs === undefined) return;
      const scope = `kafka/${t.name}/`;
      const n = t.partitions.length;
      let messages = 0;
      for (const p of [...t.partitions].sort((a, b) => a.partitionId - b.partitionId)) {
        const o = offs.find((x) => x.partition === p.partitionId);
        const count = o ? Math.max(0, Number(o.high) - Number(o.low)) : 0;
        messages += count;
        snap.partitions.push({
          source: src,
          database: '',
          table: t.name,
          topic: t.name,
          name: String(p.partitionId),
          kind: 'hash',
          bucket: p.partitionId,
          modulus: n,
          lo: null,
          hi: null,
          node: p.leader >= 0 ? brokerName(p.leader) : 'unavailable',
          replicas: p.replicas.filter((r) => r !== p.leader).map(brokerName),
          rows: count,
          scope,
        });
      }
      snap.topics.push({
        name: t.name,
        partitions: n,
        replicationFactor: t.partitions[0]?.replicas.length ?? 0,
        messages,
        compacted: (policies.get(t.name) ?? '').includes('compact'),
        scope,
      });
    });
    return snap;
  }

  async close(): Promise<void> {}
}
