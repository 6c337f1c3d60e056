/**
 * The decide stage's Kafka part: each round, the topics that have a produce-rate forecast are
 * read from the cluster (partition count, cleanup policy) and planned by
 * processors/decide/kafka/partitions.ts. Commands that do not fit the command contract are not
 * issued: they come back as misfits for the stage to log and count.
 */
import kafkajs, { type Admin } from '../lib/kafkajs.js';
import type { Forecast, AnyCommand } from '../schemas/types.js';
import { fitToContract, type Misfit } from '../schemas/commandParams.js';
import {
  DEFAULT_TOPIC_PLAN,
  type TopicPlanConfig,
  type TopicState,
  planTopicPartitions,
  topicOfSeries,
} from '../processors/decide/kafka/partitions.js';
import type { PipelineContext } from './context.js';
import { KAFKA_METRICS_SOURCE } from './collectKafka.js';

const { ConfigResourceTypes } = kafkajs;

export type KafkaPlanOptions = Partial<Omit<TopicPlanConfig, 'windowMs'>> & { source?: string };

export interface KafkaRound {
  commands: AnyCommand[];
  explanations: string[];
  misfits: Misfit[];
}

export class KafkaPlanning {
  private admin: Promise<Admin> | null = null;
  /** When each topic was last given partitions by this stage (its cooldown). */
  private readonly recent = new Map<string, number>();
  private readonly source: string;

  constructor(
    private readonly ctx: PipelineContext,
    private readonly opts: KafkaPlanOptions = {},
  ) {
    this.source = opts.source ?? KAFKA_METRICS_SOURCE;
  }

  private connected(): Promise<Admin> {
    if (!this.admin) {
      const a = this.ctx.kafka.admin();
      this.admin = a.connect().then(
        () => a,
        (err) => {
          this.admin = null;
          throw err;
        },
      );
    }
    return this.admin;
  }

  /** Partition count and compaction of each named topic that exists. */
  private async topics(names: string[]): Promise<TopicState[]> {
    const admin = await this.connected();
    const existing = new Set(await admin.listTopics());
    const wanted = names.filter((n) => existing.has(n));
    if (wanted.length === 0) return [];
    const md = await admin.fetchTopicMetadata({ topics: wanted });
    const cfgs = await admin.describeConfigs({
      resources: wanted.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['cleanup.policy'] })),
      includeSynonyms: false,
    });
    const compacted = new Set(
      cfgs.resources
        .filter((r) => r.configEntries.some((e) => e.configName === 'cleanup.policy' && e.configValue.includes('compact')))
        .map((r) => r.resourceName),
    );
    return md.topics.map((t) => ({ topic: t.name, partitions: t.partitions.length, compacted: compacted.has(t.name) }));
  }

  async round(forecasts: readonly Forecast[], now: number, windowMs: number): Promise<KafkaRound> {
    const names = [...new Set(forecasts.map((f) => topicOfSeries(f.seriesId, this.source)).filter((t): t is string => t !== null))];
    if (names.length === 0) return { commands: [], explanations: [], misfits: [] };
    const cfg: TopicPlanConfig = { ...DEFAULT_TOPIC_PLAN, store: 'kafka', ...this.opts, windowMs };
    const plan = planTopicPartitions(forecasts, await this.topics(names), this.recent, now, this.source, cfg);
    const { fit: commands, misfits } = fitToContract(plan.commands);
    for (const c of commands) this.recent.set(c.params.topic!, now);
    return { commands, explanations: plan.explanations, misfits };
  }

  async close(): Promise<void> {
    if (this.admin) await (await this.admin.catch(() => null))?.disconnect();
    this.admin = null;
  }
}
