/**
 * Prometheus metrics of the running pipelines, served at `GET /metrics` (text format 0.0.4,
 * through prom-client) on 127.0.0.1 by default. Counters are read from the stages' own
 * counters at scrape time, so the hot path pays nothing for them; consumer lag is fetched from
 * Kafka (committed offset of the group against the partition's high watermark) at most once per
 * `lagCacheMs`, so a fast scraper does not load the broker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kafka } from '../lib/kafkajs.js';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { ConfigError } from '../lib/config.js';
import type { RunningStage } from './stage.js';

export interface MeteredStage {
  pipeline: string;
  stage: Pick<RunningStage, 'stats' | 'groupId' | 'topics' | 'ingest' | 'health'>;
}

export interface MetricsServer {
  port: number;
  url: string;
  registry: Registry;
  close(): Promise<void>;
}

type LagRow = { pipeline: string; topic: string; partition: number; lag: number };

/** Builds the registry for `stages`; `close` disconnects the admin client the lag gauge uses. */
export function pipelineMetrics(
  kafka: Kafka,
  stages: () => MeteredStage[],
  opts: { lagCacheMs?: number; lagWaitMs?: number } = {},
): { registry: Registry; close(): Promise<void> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'shardcast_' });
  const labelled = (name: string, help: string, read: (s: MeteredStage) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['pipeline'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of stages()) {
          this.inc({ pipeline: s.pipeline }, read(s));
        }
      },
    });
  labelled('shardcast_pipeline_consumed_total', 'Messages consumed from the input topics.', (s) => s.stage.stats.consumed);
  labelled('shardcast_pipeline_handled_total', 'Messages decoded and handed to the processors.', (s) => s.stage.stats.handled);
  labelled('shardcast_pipeline_dead_lettered_total', 'Messages sent to shardcast.dlq (every reason).', (s) => s.stage.stats.deadLettered);
  labelled(
    'shardcast_pipeline_batches_total',
    'Micro-batches whose outputs were acknowledged and offsets committed.',
    (s) => s.stage.stats.batches,
  );
  labelled('shardcast_pipeline_produced_total', 'Records produced to the output topics.', (s) => s.stage.stats.produced);
  labelled(
    'shardcast_pipeline_retries_total',
    'Retries of failed steps (decode, handle, send, commit).',
    (s) => s.stage.health?.retries ?? 0,
  );
  new Gauge({
    name: 'shardcast_pipeline_state',
    help: '1 for the state the pipeline is in: running (making progress), retrying (a failed step, no progress), failed, or standby (waiting for the lease of a single-writer stage).',
    labelNames: ['pipeline', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of stages()) {
        const now = s.stage.health?.state ?? 'running';
        for (const state of ['running', 'retrying', 'failed', 'standby']) this.set({ pipeline: s.pipeline, state }, state === now ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'shardcast_pipeline_stalled_seconds',
    help: 'Seconds the pipeline has been retrying a failed step without progress (0 while it makes progress).',
    labelNames: ['pipeline'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of stages()) {
        const h = s.stage.health;
        this.set({ pipeline: s.pipeline }, h?.state === 'retrying' ? (Date.now() - h.since) / 1000 : 0);
      }
    },
  });

  new Counter({
    name: 'shardcast_ingest_events_total',
    help: 'Ingest events by outcome: received, decode_failed, invalid, unparsed (counted and reported), late (dead-lettered), late_merged, replayed (re-read after a restart, already accounted for).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of stages()) {
        const i = s.stage.ingest;
        if (!i) continue;
        const rows: [string, number][] = [
          ['received', i.received],
          ['decode_failed', i.decodeFailed],
          ['invalid', i.invalid],
          ['featurize_failed', i.featurizeFailed],
          ['unparsed', i.unparsed],
          ['late', i.late],
          ['late_merged', i.lateMerged],
          ['replayed', i.replayed],
        ];
        for (const [outcome, v] of rows) this.inc({ outcome }, v);
      }
    },
  });

  // Rates for people reading /metrics by eye (Prometheus derives its own with rate()).
  const last = new Map<string, { at: number; consumed: number }>();
  new Gauge({
    name: 'shardcast_pipeline_consumed_per_second',
    help: 'Messages consumed per second since the previous scrape.',
    labelNames: ['pipeline'],
    registers: [registry],
    collect() {
      this.reset();
      const now = performance.now();
      for (const s of stages()) {
        const prev = last.get(s.pipeline);
        last.set(s.pipeline, { at: now, consumed: s.stage.stats.consumed });
        if (prev && now > prev.at) this.set({ pipeline: s.pipeline }, ((s.stage.stats.consumed - prev.consumed) * 1000) / (now - prev.at));
      }
    },
  });

  const lagCacheMs = opts.lagCacheMs ?? 5_000;
  const lagWaitMs = opts.lagWaitMs ?? 2_000;
  let lagAt = -Infinity;
  let lagRows: LagRow[] = [];
  const admin = kafka.admin();
  let connected: Promise<void> | null = null;
  let refreshing: Promise<void> | null = null;
  // One refresh at a time, in the background: while Kafka does not answer, kafkajs retries for
  // tens of seconds, and a scrape must not wait for that (it gets the last figures and their age).
  const refreshLag = (): Promise<void> =>
    (refreshing ??= (async () => {
      try {
        connected ??= admin.connect();
        await connected;
        lagRows = await consumerLag(admin, stages());
        lagAt = performance.now();
      } catch {
        connected = null;
        await admin.disconnect().catch(() => undefined);
      } finally {
        refreshing = null;
      }
    })());
  new Gauge({
    name: 'shardcast_consumer_lag',
    help: "Messages in the input topic partition not yet committed by the pipeline's consumer group.",
    labelNames: ['pipeline', 'topic', 'partition'],
    registers: [registry],
    async collect() {
      if (performance.now() - lagAt > lagCacheMs) await Promise.race([refreshLag(), sleep(lagWaitMs)]);
      this.reset();
      for (const r of lagRows) this.set({ pipeline: r.pipeline, topic: r.topic, partition: String(r.partition) }, r.lag);
    },
  });
  new Gauge({
    name: 'shardcast_consumer_lag_age_seconds',
    help: 'Age of the consumer lag figures: grows while Kafka does not answer (-1: none yet).',
    registers: [registry],
    collect() {
      this.set(lagAt === -Infinity ? -1 : (performance.now() - lagAt) / 1000);
    },
  });
  return {
    registry,
    async close() {
      // a refresh still retrying (Kafka away) is not waited for: it ends by itself
      if (refreshing) await Promise.race([refreshing, sleep(lagWaitMs)]);
      if (connected)
        await connected.then(
          () => admin.disconnect(),
          () => undefined,
        );
    },
  };
}

async function consumerLag(admin: ReturnType<Kafka['admin']>, stages: MeteredStage[]): Promise<LagRow[]> {
  const rows: LagRow[] = [];
  for (const s of stages) {
    if (s.stage.topics.length === 0) continue; // a collector: it consumes no topic
    const committed = await admin.fetchOffsets({ groupId: s.stage.groupId, topics: s.stage.topics });
    for (const t of committed) {
      const ends = await admin.fetchTopicOffsets(t.topic);
      for (const p of t.partitions) {
        const end = ends.find((e) => e.partition === p.partition);
        if (!end) continue;
        const from = Number(p.offset) >= 0 ? Number(p.offset) : Number(end.low);
        rows.push({ pipeline: s.pipeline, topic: t.topic, partition: p.partition, lag: Math.max(0, Number(end.high) - from) });
      }
    }
  }
  return rows;
}

/**
 * Serves the registry on `host:port` (`port` 0 picks a free one). A port already in use is a
 * ConfigError naming the setting, not a stack trace.
 */
export async function startMetricsServer(
  kafka: Kafka,
  stages: () => MeteredStage[],
  opts: { port: number; host?: string; lagCacheMs?: number; lagWaitMs?: number },
): Promise<MetricsServer> {
  const { registry, close } = pipelineMetrics(kafka, stages, opts);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
    );
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(
              'SHARDCAST_METRICS_PORT',
              `port ${opts.port} on ${host} is in use; pick another with --metrics-port or SHARDCAST_METRICS_PORT (0 = any free port)`,
            )
          : err,
      ),
    );
    server.listen(opts.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}/metrics`,
    registry,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
    },
  };
}
