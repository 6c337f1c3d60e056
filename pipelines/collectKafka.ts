/**
 * The Kafka metrics collector: reads the cluster's offsets through the Admin API every
 * `intervalMs` (collectors/kafkaOffsets.ts), turns each pair of reads into produce and consume
 * rates and consumer lag (collectors/kafkaRates.ts) and publishes them as MetricSamples on
 * shardcast.telemetry.metrics, where the forecast stage forecasts the topics' produce rates and
 * the decide stage plans partition counts on them. A cluster that does not answer is retried
 * with backoff (the rates resume from the next two reads); any other error stops it.
 */
import type { Admin } from '../lib/kafkajs.js';
import type { Config } from '../lib/config.js';
import { UnavailableError } from '../lib/errors.js';
import { logger } from '../lib/log.js';
import { type OffsetSelection, readOffsets } from '../collectors/kafkaOffsets.js';
import { type OffsetSnapshot, kafkaMetricSamples } from '../collectors/kafkaRates.js';
import { createKafka } from '../topics/kafka.js';
import { TelemetryPublisher } from '../topics/sdk.js';
import { initialHealth, pollWhileRunning, type StageHealth } from './failure.js';

/** The source id of the cluster's samples (the catalog's Kafka source). */
export const KAFKA_METRICS_SOURCE = 'kafka';

export interface KafkaMetricsOptions extends OffsetSelection {
  source?: string;
  intervalMs?: number;
}

export interface RunningKafkaMetrics {
  /** Samples published so far. */
  published: () => number;
  /** Reads of the offsets done so far. */
  reads: () => number;
  health: StageHealth;
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startKafkaMetrics(cfg: Config, opts: KafkaMetricsOptions = {}): Promise<RunningKafkaMetrics> {
  const log = logger('collect-kafka');
  const source = opts.source ?? KAFKA_METRICS_SOURCE;
  const publisher = await TelemetryPublisher.connect(cfg, { clientId: 'shardcast-collector-kafka' });
  const kafka = createKafka(cfg, 'shardcast-collector-kafka');
  let admin: Admin | null = null;
  let prev: OffsetSnapshot | null = null;
  let published = 0,
    reads = 0;
  const health = initialHealth();
  const stopped = new AbortController();

  const once = async () => {
    try {
      if (!admin) {
        const a = kafka.admin({ retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1_000 } });
        await a.connect();
        admin = a;
      }
      const cur = await readOffsets(admin, opts);
      reads++;
      const samples = kafkaMetricSamples(prev, cur, source);
      prev = cur;
      for (const s of samples) await publisher.publishMetric(s);
      await publisher.flush();
      published += samples.length;
    } catch (err) {
      // a fresh connection and a fresh pair of reads after the cluster answers again
      await (admin as Admin | null)?.disconnect().catch(() => undefined);
      admin = null;
      prev = null;
      throw err instanceof Error && err.name.startsWith('Kafka') ? new UnavailableError(`kafka metrics: ${err.message}`) : err;
    }
  };
  const done = pollWhileRunning(once, {
    step: 'collect-kafka',
    health,
    signal: stopped.signal,
    intervalMs: opts.intervalMs ?? 5_000,
    log,
    retrying: 'reading Kafka offsets failed; retrying',
    failed: 'kafka metrics collector failed',
  });
  return {
    published: () => published,
    reads: () => reads,
    health,
    done,
    async stop() {
      stopped.abort();
      await done.catch(() => undefined);
      await (admin as Admin | null)?.disconnect().catch(() => undefined);
      await publisher.close();
    },
  };
}
