/**
 * `shardcast run sink`: every topic of the flow (telemetry metrics included) → its ClickHouse table, in batched inserts.
 * Offsets are committed after the insert succeeded; a redelivered batch replaces itself in the
 * ReplacingMergeTree tables. Query events can be sampled (deterministically by event id, so a
 * redelivery makes the same choice).
 */
import { createHash } from 'node:crypto';
import { aggregateRow, commandRow, deadLetterRow, forecastRows, metricSampleRow, queryEventRow, resultRow } from '../analytics/rows.js';
import { createClickHouse, ensureAnalyticsSchema, insertRows } from '../analytics/clickhouse.js';
import type { CommandResult, DeadLetter, Forecast, MetricSample, QueryEvent, WorkloadAggregate } from '../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../schemas/topics.js';
import type { Envelope } from '../schemas/envelope.js';
import type { PipelineContext } from './context.js';
import { startStage, type RunningStage } from './stage.js';
import { toAnyCommand } from './execute.js';
import { validateQueryEvent } from '../processors/ingest/validate.js';

export interface SinkOptions {
  groupId?: string;
  /** Database to write to (default: the configured one). */
  database?: string;
  /** Extra topics routed like an existing one (benchmarks use private topics). */
  aliases?: Record<string, string>;
  /** Consume only these topics (default: every topic of the flow plus the aliases). */
  topics?: string[];
  /** Fraction of query events kept, 0..1 (default 1). */
  querySampleRate?: number;
  batchSize?: number;
}

const sampled = (eventId: string, rate: number) =>
  rate >= 1 || createHash('sha1').update(eventId).digest().readUInt32BE(0) / 0xffffffff < rate;

export async function startSink(ctx: PipelineContext, opts: SinkOptions = {}): Promise<RunningStage & { rowsInserted: () => number }> {
  const ch = createClickHouse(ctx.cfg);
  const db = opts.database ?? ctx.cfg.clickhouseDatabase;
  const aliases = opts.aliases ?? {};
  await ensureAnalyticsSchema(ch, db);
  const rate = opts.querySampleRate ?? 1;
  let inserted = 0;
  const commandTopics = new Set<string>(Object.values(COMMAND_TOPICS));

  const stage = await startStage<unknown>(ctx, {
    name: 'sink',
    groupId: opts.groupId ?? 'shardcast-sink',
    topics: opts.topics ?? [
      TOPICS.queries.name,
      TOPICS.metrics.name,
      TOPICS.aggregates.name,
      TOPICS.forecasts.name,
      ...commandTopics,
      TOPICS.results.name,
      TOPICS.dlq.name,
      ...Object.keys(aliases),
    ],
    batchSize: opts.batchSize ?? 5000,
    batchMs: 1000,
    // Inserts are idempotent (ReplacingMergeTree on natural ids) and need no order: decode the
    // next batch while ClickHouse takes this one.
    concurrency: 2,
    // a query event ingest refuses (SQL too long or too deep) is not stored as a good one either
    check: (topic, value) => {
      if ((aliases[topic] ?? topic) !== TOPICS.queries.name) return null;
      const v = validateQueryEvent(value);
      return v.ok ? null : v.reason;
    },
    handle: async (batch: Envelope<unknown>[]) => {
      const tables = new Map<string, object[]>();
      const add = (t: string, rows: object[]) => {
        const cur = tables.get(t);
        if (cur) cur.push(...rows);
        else tables.set(t, [...rows]);
      };
      for (const m of batch) {
        const topic = aliases[m.topic] ?? m.topic;
        if (topic === TOPICS.queries.name) {
          const e = m.value as QueryEvent;
          if (sampled(e.eventId, rate)) add('query_events', [queryEventRow(e)]);
        } else if (topic === TOPICS.metrics.name) add('metric_samples', [metricSampleRow(m.value as MetricSample)]);
        else if (topic === TOPICS.aggregates.name) add('aggregates', [aggregateRow(m.value as WorkloadAggregate)]);
        else if (topic === TOPICS.forecasts.name) add('forecasts', forecastRows(m.value as Forecast));
        else if (commandTopics.has(topic)) add('commands', [commandRow(toAnyCommand(topic, m.value as never), topic)]);
        else if (topic === TOPICS.results.name) add('results', [resultRow(m.value as CommandResult)]);
        else if (topic === TOPICS.dlq.name) add('dlq', [deadLetterRow(m.value as DeadLetter)]);
      }
      for (const [table, rows] of tables) {
        await insertRows(ch, db, table, rows);
        inserted += rows.length;
      }
      return [];
    },
  });
  return {
    ...stage,
    rowsInserted: () => inserted,
    async stop() {
      await stage.stop();
      await ch.close();
    },
  };
}
