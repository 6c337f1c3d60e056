/**
 * Kafka add-partitions ahead of forecast load: a topic whose forecast produce rate (records/s,
 * the `topic.records_in_total` series of processors/forecast/metricSeries.ts) will exceed what
 * its partitions carry at the target utilisation gets an `add_topic_partitions` command for the
 * count that carries the forecast peak (upper bound), before the load arrives.
 *
 * Pure: the topics' partition counts and the time are arguments. A count is absolute, so a
 * command delivered twice changes nothing the second time (executors/kafka/adapter.ts).
 */
import type { AnyCommand, Forecast } from '../../../schemas/types.js';
import { topicAlias } from '../../../schemas/topicAlias.js';
import { commandId } from '../ids.js';

/** The forecast series this planner reads, by their metric part. */
export const TOPIC_RATE_METRIC = 'topic.records_in_total';

export interface TopicState {
  topic: string;
  partitions: number;
  /** Compacted topics are never given partitions (their keys would move). */
  compacted?: boolean;
}

export interface TopicPlanConfig {
  /** The store id of the Kafka cluster on commands. */
  store: string;
  /** Records per second one partition carries (its consumers' measured or configured rate). */
  recordsPerPartitionPerSec: number;
  /** Share of that a partition is planned to carry (headroom). */
  targetUtil: number;
  maxPartitions: number;
  /** Most partitions one command adds. */
  maxIncrease: number;
  /** A topic given partitions is not planned again for this long (ms). */
  cooldownMs: number;
  /** Issuing window of command ids (ms). */
  windowMs: number;
  policy: string;
}

export const DEFAULT_TOPIC_PLAN: Omit<TopicPlanConfig, 'store' | 'windowMs'> = {
  recordsPerPartitionPerSec: 1_000,
  targetUtil: 0.8,
  maxPartitions: 256,
  maxIncrease: 64,
  cooldownMs: 300_000,
  policy: 'shardcast-predictive',
};

/** The topic a forecast series is about, or null for another series (`<source>|<topic>|<metric>`). */
export function topicOfSeries(seriesId: string, source: string): string | null {
  const [src, topic, metric] = seriesId.split('|');
  return src === source && metric === TOPIC_RATE_METRIC && topic ? topic : null;
}

export interface TopicPlan {
  commands: AnyCommand[];
  /** One line per topic looked at: what was decided and why. */
  explanations: string[];
}

/**
 * Commands for the topics whose forecast overloads their partitions. `recent` holds, per topic,
 * when it was last given partitions (cooldown); `source` is the metric series' source.
 */
export function planTopicPartitions(
  forecasts: readonly Forecast[],
  topics: readonly TopicState[],
  recent: ReadonlyMap<string, number>,
  now: number,
  source: string,
  cfg: TopicPlanConfig,
): TopicPlan {
  const byName = new Map(topics.map((t) => [t.topic, t]));
  const commands: AnyCommand[] = [];
  const explanations: string[] = [];
  const perPartition = cfg.recordsPerPartitionPerSec * cfg.targetUtil;
  for (const f of forecasts) {
    const topic = topicOfSeries(f.seriesId, source);
    if (!topic || f.points.length === 0) continue;
    const t = byName.get(topic);
    if (!t) {
      explanations.push(`${topic}: not planned (no longer a topic of the cluster)`);
      continue;
    }
    let peakIdx = 0;
    f.points.forEach((p, i) => {
      if (p.predicted > f.points[peakIdx]!.predicted) peakIdx = i;
    });
    const peak = f.points[peakIdx]!;
    const upper = Math.max(...f.points.map((p) => p.upper));
    const carried = t.partitions * perPartition;
    if (Math.max(peak.predicted, upper) <= carried) continue;
    if (t.compacted) {
      explanations.push(`${topic}: forecast ${upper.toFixed(0)} records/s over ${carried.toFixed(0)}, but compacted: not given partitions`);
      continue;
    }
    // a stage's internal topic is keyed by what it owns per partition (scaled-out ingest's series)
    if (topic.startsWith('shardcast.internal.')) {
      explanations.push(`${topic}: forecast ${upper.toFixed(0)} records/s over ${carried.toFixed(0)}, but internal: not given partitions`);
      continue;
    }
    const last = recent.get(topic);
    if (last !== undefined && now - last < cfg.cooldownMs) {
      explanations.push(`${topic}: forecast over its partitions, in cooldown after the change at ${new Date(last).toISOString()}`);
      continue;
    }
    const wanted = Math.min(cfg.maxPartitions, t.partitions + cfg.maxIncrease, Math.ceil(upper / perPartition));
    if (wanted <= t.partitions) {
      explanations.push(`${topic}: forecast over its partitions, already at the most allowed (${t.partitions})`);
      continue;
    }
    const explanation = `add partitions to ${topic}: ${t.partitions} → ${wanted}, forecast ${peak.predicted.toFixed(0)} records/s (upper ${upper.toFixed(0)}) at +${peakIdx + 1} steps over the ${carried.toFixed(0)} its partitions carry at ${Math.round(cfg.targetUtil * 100)}%`;
    commands.push({
      kind: 'partition',
      commandId: commandId('add_topic_partitions', `${cfg.store}/${topic}->${wanted}`, now, cfg.windowMs),
      issuedAt: now,
      deadline: peak.ts,
      store: cfg.store,
      storeKind: 'kafka',
      table: topicAlias(topic),
      partition: null,
      action: 'add_topic_partitions',
      params: { topic, partitions: String(wanted) },
      evidence: {
        seriesId: f.seriesId,
        currentLoad: f.points[0]!.predicted,
        forecastPeak: peak.predicted,
        forecastLower: peak.lower,
        forecastUpper: upper,
        peakAt: peak.ts,
        capacity: carried,
        model: f.model,
      },
      expectedBenefit: Math.max(0, upper - carried),
      expectedCost: wanted - t.partitions,
      estimatedDurationMs: 5_000,
      requiresApproval: false,
      policy: cfg.policy,
      explanation,
    });
    explanations.push(explanation);
  }
  return { commands, explanations };
}
