/**
 * `shardcast run <pipeline>`: starts one pipeline (or all) in this process and keeps it running
 * until SIGINT/SIGTERM, then drains: stops fetching, finishes what is in hand, commits, exits.
 * A stage that stops on an error (failure.ts: neither bad input nor retriable) drains the others
 * too, and the process exits with the error's exit code.
 * Its Prometheus metrics are served on 127.0.0.1 (see metrics.ts) unless turned off.
 */
import { exitCodeFor, UsageError } from '../lib/errors.js';
import { logger } from '../lib/log.js';
import { openContext, type PipelineContext } from './context.js';
import type { RunningStage } from './stage.js';
import { initialHealth, retryWhileRetriable, type StageHealth } from './failure.js';
import { startMetricsServer, type MeteredStage, type MetricsServer } from './metrics.js';

export const PIPELINES = ['ingest', 'forecast', 'decide', 'execute', 'sink', 'catalog', 'collect-clickhouse', 'collect-kafka'] as const;
export type PipelineName = (typeof PIPELINES)[number];

/** What `run` needs of a pipeline: a stage, or a collector (which reads a store, not a topic). */
export type RunnablePipeline = Pick<RunningStage, 'stats' | 'groupId' | 'topics' | 'ingest' | 'health' | 'done' | 'stop'>;

/** A collector as a runnable pipeline: what it published counts as produced; it consumes no topic. */
function asPipeline(c: { health: StageHealth; done: Promise<void>; stop(): Promise<void> }, published: () => number): RunnablePipeline {
  const stats = { consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 };
  return {
    get stats() {
      return { ...stats, produced: published(), handled: published() };
    },
    groupId: '',
    topics: [],
    health: c.health,
    done: c.done,
    stop: () => c.stop(),
  };
}

export async function startPipeline(
  name: PipelineName,
  ctx: Awaited<ReturnType<typeof openContext>>,
  group: string,
): Promise<RunnablePipeline> {
  switch (name) {
    case 'ingest':
      // several instances share the work only in the scaled-out layout (docs/decisions/0120)
      if (ctx.cfg.ingestScaleOut === 'on')
        return (await import('./ingestScaleOut.js')).startScaledIngest(ctx, { groupId: `${group}-ingest` });
      return (await import('./ingest.js')).startIngest(ctx, { groupId: `${group}-ingest` });
    case 'forecast':
      // several instances share the aggregates only in the scaled-out layout (docs/decisions/0130)
      if (ctx.cfg.forecastScaleOut === 'on')
        return (await import('./forecastScaleOut.js')).startScaledForecast(ctx, { groupId: `${group}-forecast-scaled` });
      return (await import('./forecast.js')).startForecast(ctx, { groupId: `${group}-forecast` });
    case 'decide': {
      // One writer at a time: further instances stand by for the lease (lease.ts).
      const { startDecide } = await import('./decide.js');
      const groupId = `${group}-decide`;
      return (await import('./lease.js')).startLeased(ctx, { stage: 'decide', groupId }, () =>
        startDecide(ctx, { groupId, controlScope: group }),
      );
    }
    case 'execute':
      return (await import('./execute.js')).startExecute(ctx, { groupId: `${group}-execute` });
    case 'sink':
      return (await import('./sink.js')).startSink(ctx, { groupId: `${group}-sink` });
    case 'catalog':
      return (await import('./catalog.js')).startCatalog(ctx, { groupId: `${group}-catalog` });
    case 'collect-clickhouse': {
      const c = await (await import('./collectClickHouse.js')).startClickHouseCollector(ctx.cfg);
      return asPipeline(c, () => c.stats.published);
    }
    case 'collect-kafka': {
      const c = await (await import('./collectKafka.js')).startKafkaMetrics(ctx.cfg);
      return asPipeline(c, c.published);
    }
  }
}

/** Something started beside the stages once they run (the console, for `run all`), closed before they drain. */
/** Something started beside the pipelines (the console), told where their metrics are served (null: not served). */
export type Companion = (ctx: PipelineContext, started: { metricsUrl: string | null }) => Promise<{ close(): Promise<void> }>;

export async function runPipelineCommand(
  name: string,
  opts: { group: string; metricsPort?: string; metrics?: boolean },
  companion?: Companion,
): Promise<void> {
  const names: PipelineName[] = name === 'all' ? [...PIPELINES] : PIPELINES.includes(name as PipelineName) ? [name as PipelineName] : [];
  if (names.length === 0) throw new UsageError(`unknown pipeline ${JSON.stringify(name)}; expected one of ${PIPELINES.join(', ')}, all`);
  const port = opts.metricsPort === undefined ? undefined : Number(opts.metricsPort);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new UsageError(`--metrics-port: expected a port number 0-65535, got ${JSON.stringify(opts.metricsPort)}`);
  }
  // Until the stages run, a signal ends the start (and its retries) and the process exits cleanly.
  const starting = new AbortController();
  const abortStart = () => starting.abort();
  process.once('SIGINT', abortStart);
  process.once('SIGTERM', abortStart);
  const log = logger(name);
  let started: Started;
  try {
    // Kafka or the registry may not answer yet (a broker restarting, a stack coming up): the
    // start is retried with backoff; only a configuration error or a signal ends it.
    started = await retryWhileRetriable(() => startAll(name, names, opts, port, companion), {
      step: 'start',
      health: initialHealth(),
      signal: starting.signal,
      backoff: START_BACKOFF,
      onRetry: ({ attempt, delayMs, err }) =>
        log.warn({ attempt, delayMs, err: (err as Error).message }, 'cannot start yet (a server does not answer); retrying'),
    });
  } catch (err) {
    if (starting.signal.aborted) {
      log.info('stopped before the start completed');
      return;
    }
    throw err;
  } finally {
    process.off('SIGINT', abortStart);
    process.off('SIGTERM', abortStart);
  }
  if (starting.signal.aborted) {
    await started.close();
    return;
  }
  const { ctx, stages, metrics, companions } = started;
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // A stage that ends by itself (error) ends the process too.
    for (const s of stages)
      s.done.catch((err: unknown) => {
        ctx.log.error({ err }, 'pipeline failed');
        process.exitCode = exitCodeFor(err).code;
        resolve();
      });
  });
  ctx.log.info('draining');
  for (const c of companions) await c.close();
  for (const s of stages.reverse()) await s.stop();
  await metrics?.close();
  await ctx.close();
}

/** Backoff of `run`'s start while a server does not answer. */
export const START_BACKOFF = { initialMs: 500, maxMs: 15_000 };

interface Started {
  ctx: PipelineContext;
  stages: RunnablePipeline[];
  metrics: MetricsServer | null;
  companions: { close(): Promise<void> }[];
  close(): Promise<void>;
}

/** Opens the context, the metrics server, the stages and companions; on a failure closes what it opened and throws. */
async function startAll(
  name: string,
  names: PipelineName[],
  opts: { group: string; metrics?: boolean },
  port: number | undefined,
  companion: Companion | undefined,
): Promise<Started> {
  const ctx = await openContext(name);
  const stages: RunnablePipeline[] = [];
  const metered: MeteredStage[] = [];
  let metrics: MetricsServer | null = null;
  const companions: { close(): Promise<void> }[] = [];
  const close = async () => {
    for (const c of companions) await c.close().catch(() => undefined);
    for (const s of [...stages].reverse()) await s.stop().catch(() => undefined);
    await metrics?.close().catch(() => undefined);
    await ctx.close().catch(() => undefined);
  };
  try {
    if (opts.metrics !== false) {
      metrics = await startMetricsServer(ctx.kafka, () => metered, { port: port ?? ctx.cfg.metricsPort });
      ctx.log.info({ url: metrics.url }, 'metrics');
    }
    for (const n of names) {
      const stage = await startPipeline(n, ctx, opts.group);
      stages.push(stage);
      metered.push({ pipeline: n, stage });
      ctx.log.info({ pipeline: n }, 'started');
    }
    if (companion) companions.push(await companion(ctx, { metricsUrl: metrics?.url ?? null }));
  } catch (err) {
    await close();
    throw err;
  }
  return { ctx, stages, metrics, companions, close };
}
