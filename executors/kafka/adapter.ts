/**
 * StoreAdapter for Kafka topics (storeKind 'kafka', store 'kafka' by default: the cluster of
 * lib/config.ts's KAFKA_BROKERS).
 *
 * Partition command `add_topic_partitions`: grows a topic whose forecast ingest exceeds its
 * capacity to params.partitions partitions (an absolute count, so a redelivered command is a
 * no-op: a topic already at or above it succeeds without change). The topic is params.topic,
 * or the command's table when the topic name is itself a plain identifier; a command naming
 * both must agree (table = the topic with '.' and '-' as '_'), so the command key store/table
 * still identifies the topic.
 *
 * Refused: unknown or internal topics, counts that are not whole numbers or exceed the cap or
 * the per-command increase, compacted topics (a key's new records would land in another
 * partition than its old ones, and compaction would keep both), and evidence that shows no
 * overload. Partitions cannot be removed, so there is no rollback: createPartitions is applied
 * by the controller as one change, and a failure leaves the topic as it was.
 */
import kafkajs, { type Admin, type Kafka } from '../../lib/kafkajs.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../lib/config.js';
import type { AnyCommand } from '../../schemas/types.js';
import { createKafka } from '../../topics/kafka.js';
import { isTopicName } from '../../stores/identifiers.js';
import { topicAlias } from '../../schemas/topicAlias.js';
import type { ExecutionContext, Outcome, StoreAdapter } from '../types.js';

// kafkajs is CommonJS and this enum is not among the names Node can import from it directly.
const { ConfigResourceTypes } = kafkajs;

export const KAFKA_STORE = 'kafka';

export interface KafkaAdapterOptions {
  /** The store id commands name (default 'kafka'). */
  store?: string;
  /** Most partitions a topic may have after the change (default 256). */
  maxPartitions?: number;
  /** Most partitions one command may add (default 64). */
  maxIncrease?: number;
  /** How long the new partitions may take to show a leader in the metadata (default 30 s). */
  metadataTimeoutMs?: number;
}

export { topicAlias };

type Planned = { topic: string; count: number; current: number } | { reason: string };

export class KafkaTopicAdapter implements StoreAdapter {
  readonly name = 'kafka';
  readonly store: string;
  private readonly kafka: Kafka;
  private admin: Promise<Admin> | null = null;

  private constructor(
    cfg: Pick<Config, 'kafkaBrokers'>,
    private readonly opts: KafkaAdapterOptions,
  ) {
    this.store = opts.store ?? KAFKA_STORE;
    this.kafka = createKafka(cfg, 'shardcast-executor-kafka');
  }

  /** No connection is made here: a Kafka that is down only fails its own commands. */
  static open(cfg: Pick<Config, 'kafkaBrokers'>, opts: KafkaAdapterOptions = {}): KafkaTopicAdapter {
    return new KafkaTopicAdapter(cfg, opts);
  }

  private connected(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(
        () => admin,
        (err) => {
          this.admin = null;
          throw err;
        },
      );
    }
    return this.admin;
  }

  handles(cmd: AnyCommand): boolean {
    return cmd.kind === 'partition' && cmd.storeKind === 'kafka' && cmd.store === this.store && cmd.action === 'add_topic_partitions';
  }

  async validate(cmd: AnyCommand): Promise<string | null> {
    const p = await this.plan(cmd);
    return 'reason' in p ? p.reason : null;
  }

  private async partitionCount(admin: Admin, topic: string): Promise<{ count: number; leaders: number }> {
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    const parts = md.topics.find((t) => t.name === topic)?.partitions ?? [];
    return { count: parts.length, leaders: parts.filter((p) => p.leader >= 0 && p.partitionErrorCode === 0).length };
  }

  private async plan(cmd: AnyCommand): Promise<Planned> {
    const reject = (reason: string): Planned => ({ reason });
    if (!this.handles(cmd) || cmd.kind !== 'partition') return reject(`the kafka executor does not carry out ${cmd.kind}/${cmd.action}`);
    const topic = cmd.params.topic ?? cmd.table;
    if (!isTopicName(topic)) return reject(`topic ${JSON.stringify(topic)} is not a legal topic name`);
    if (cmd.params.topic !== undefined && topicAlias(topic) !== cmd.table)
      return reject(`table ${cmd.table} does not name topic ${topic} (expected ${topicAlias(topic)})`);
    if (topic.startsWith('__')) return reject(`${topic} is an internal topic`);
    if (cmd.partition !== null) return reject('partition must be null: the command changes the whole topic');
    const raw = cmd.params.partitions;
    if (raw === undefined || !/^[0-9]{1,9}$/.test(raw)) return reject(`partitions ${JSON.stringify(raw ?? null)} is not a whole number`);
    const count = Number(raw);
    const max = this.opts.maxPartitions ?? 256;
    if (count < 1 || count > max) return reject(`partitions ${count} is outside 1..${max}`);
    const ev = cmd.evidence;
    if (ev.capacity !== null && ev.capacity > 0 && !(Math.max(ev.forecastPeak, ev.forecastUpper) > ev.capacity)) {
      return reject(
        `the evidence shows no overload (forecast peak ${ev.forecastPeak}, upper ${ev.forecastUpper}, capacity ${ev.capacity})`,
      );
    }
    const admin = await this.connected();
    if (!(await admin.listTopics()).includes(topic)) return reject(`unknown topic ${topic}`);
    const { count: current } = await this.partitionCount(admin, topic);
    if (count > current) {
      const inc = this.opts.maxIncrease ?? 64;
      if (count - current > inc) return reject(`adding ${count - current} partitions to ${topic} is more than ${inc} at once`);
      const cfgs = await admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }],
        includeSynonyms: false,
      });
      const policy = cfgs.resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? '';
      if (policy.includes('compact'))
        return reject(`${topic} is compacted (cleanup.policy=${policy}); more partitions would split its keys`);
    }
    return { topic, count, current };
  }

  async execute(cmd: AnyCommand, ctx: ExecutionContext): Promise<Outcome> {
    const p = await this.plan(cmd);
    if ('reason' in p) return { status: 'FAILED', reason: `no longer valid: ${p.reason}` };
    const admin = await this.connected();
    if (p.current >= p.count) {
      return {
        status: 'SUCCEEDED',
        verified: true,
        details: { topic: p.topic, partitions: String(p.current), noop: `already ${p.current} partitions (asked ${p.count})` },
      };
    }
    await ctx.report({ status: 'RUNNING', progress: 0.1, details: { topic: p.topic, from: String(p.current), to: String(p.count) } });
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: p.topic, count: p.count }], timeout: 30_000 });
    } catch (err) {
      // Another executor (or a redelivery running in parallel) may have grown it first.
      const now = await this.partitionCount(admin, p.topic).catch(() => ({ count: -1, leaders: 0 }));
      if (now.count < p.count)
        return {
          status: 'FAILED',
          reason: `createPartitions failed: ${(err as Error).message}`,
          details: { topic: p.topic, partitions: String(now.count) },
        };
    }
    // Verify: the metadata shows every partition with a leader, within a bounded wait.
    const deadline = Date.now() + (this.opts.metadataTimeoutMs ?? 30_000);
    let seen = { count: 0, leaders: 0 };
    while (Date.now() < deadline) {
      seen = await this.partitionCount(admin, p.topic);
      if (seen.count >= p.count && seen.leaders === seen.count) {
        return {
          status: 'SUCCEEDED',
          verified: true,
          details: { topic: p.topic, from: String(p.current), partitions: String(seen.count) },
        };
      }
      await sleep(250);
    }
    return {
      status: 'FAILED',
      verified: false,
      reason: `after createPartitions ${p.topic} shows ${seen.count} partitions, ${seen.leaders} with a leader (asked ${p.count})`,
      details: { topic: p.topic, partitions: String(seen.count) },
    };
  }

  async close(): Promise<void> {
    if (this.admin) await (await this.admin.catch(() => null))?.disconnect();
    this.admin = null;
  }
}
