/**
 * `shardcast run sink`: every topic of the flow (telemetry metrics and the operators' audit trail included) → its ClickHouse
 * table, in batched inserts. Offsets are committed after the insert succeeded; a batch
 * redelivered after a crash between the two is recognised by its records' positions and not
 * inserted again (analytics/positions.ts). Query events can be sampled (deterministically by
 * event id, so a redelivery makes the same choice).
 */
import { createHash } from 'node:crypto';
import {
  aggregateRow,
  auditRow,
  commandRow,
  deadLetterRow,
  forecastRows,
  metricSampleRow,
  queryEventRow,
  resultRow,
} from '../analytics/rows.js';
import { createClickHouse, ensureAnalyticsSchema, insertRows } from '../analytics/clickhouse.js';
import { positionColumns, storedPositions } from '../analytics/positions.js';
import { RedeliveryFilter } from '../analytics/redelivery.js';
import { committedOffsets } from '../topics/consumer.js';
import type { AuditEvent, CommandResult, DeadLetter, Forecast, MetricSample, QueryEvent, WorkloadAggregate } from '../schemas/types.js';
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

/** The table of each topic of the flow (command topics all go to `commands`). */
const SINK_TABLES: Record<string, string> = {
  [TOPICS.queries.name]: 'query_events',
  [TOPICS.aggregates.name]: 'aggregates',
  [TOPICS.forecasts.name]: 'forecasts',
  [TOPICS.results.name]: 'results',
  [TOPICS.dlq.name]: 'dlq',
  [TOPICS.audit.name]: 'audit',
  [TOPICS.metrics.name]: 'metric_samples',
};

const sampled = (eventId: string, rate: number) =>
  rate >= 1 || createHash('sha1').update(eventId).digest().readUInt32BE(0) / 0xffffffff < rate;

export async function startSink(
  ctx: PipelineContext,
  opts: SinkOptions = {},
): Promise<RunningStage & { rowsInserted: () => number; redeliveredSkipped: () => number }> {
  const ch = createClickHouse(ctx.cfg);
  const db = opts.database ?? ctx.cfg.clickhouseDatabase;
  const aliases = opts.aliases ?? {};
  await ensureAnalyticsSchema(ch, db);
  const rate = opts.querySampleRate ?? 1;
  let inserted = 0;
  const commandTopics = new Set<string>(Object.values(COMMAND_TOPICS));
  const groupId = opts.groupId ?? 'shardcast-sink';
  /** The table a topic's records land in (null: none). */
  const tableOf = (consumed: string): string | null => {
    const topic = aliases[consumed] ?? consumed;
    if (commandTopics.has(topic)) return 'commands';
    return SINK_TABLES[topic] ?? null;
  };
  const redelivery = new RedeliveryFilter(async (topic, partitions) => {
    const table = tableOf(topic);
    if (!table) return new Set();
    const committed = await committedOffsets(ctx.kafka, groupId, [topic]);
    const from = new Map(
      partitions.map((p) => {
        const offset = BigInt(committed.find((c) => c.partition === p)?.offset ?? '-1');
        return [p, offset < 0n ? 0n : offset] as const;
      }),
    );
    return storedPositions(ch, db, table, topic, from);
  });

  const stage = await startStage<unknown>(ctx, {
    name: 'sink',
    groupId,
    topics: opts.topics ?? [
      TOPICS.queries.name,
      TOPICS.metrics.name,
      TOPICS.aggregates.name,
      TOPICS.forecasts.name,
      ...commandTopics,
      TOPICS.results.name,
      TOPICS.dlq.name,
      TOPICS.audit.name,
      ...Object.keys(aliases),
    ],
    batchSize: opts.batchSize ?? 5000,
    batchMs: 1000,
    // Inserts need no order (a redelivery is recognised by position, not by sequence): decode
    // the next batch while ClickHouse takes this one.
    concurrency: 2,
    // a query event ingest refuses (SQL too long or too deep) is not stored as a good one either
    check: (topic, value) => {
      if ((aliases[topic] ?? topic) !== TOPICS.queries.name) return null;
      const v = validateQueryEvent(value);
      return v.ok ? null : v.reason;
    },
    handle: async (batch: Envelope<unknown>[]) => {
      /** Per table: its rows, and the records they came from. */
      const tables = new Map<string, { rows: object[]; records: Envelope<unknown>[] }>();
      let m: Envelope<unknown>;
      const add = (t: string, rows: object[]) => {
        const at = positionColumns(m);
        for (const r of rows) Object.assign(r, at);
        const cur = tables.get(t);
        if (cur) {
          cur.rows.push(...rows);
          cur.records.push(m);
        } else tables.set(t, { rows, records: [m] });
      };
      for (m of await redelivery.keep(batch)) {
        const table = tableOf(m.topic);
        if (table === 'query_events') {
          const e = m.value as QueryEvent;
          if (sampled(e.eventId, rate)) add(table, [queryEventRow(e)]);
        } else if (table === 'aggregates') add(table, [aggregateRow(m.value as WorkloadAggregate)]);
        else if (table === 'forecasts') add(table, forecastRows(m.value as Forecast));
        else if (table === 'commands')
          add(table, [commandRow(toAnyCommand(aliases[m.topic] ?? m.topic, m.value as never), aliases[m.topic] ?? m.topic)]);
        else if (table === 'results') add(table, [resultRow(m.value as CommandResult)]);
        else if (table === 'dlq') add(table, [deadLetterRow(m.value as DeadLetter)]);
        else if (table === 'audit') add(table, [auditRow(m.value as AuditEvent)]);
        else if (table === 'metric_samples') add(table, [metricSampleRow(m.value as MetricSample)]);
      }
      for (const [table, { rows, records }] of tables) {
        // Rows the server refuses as data raise an InputError: the stage hands the batch over
        // again one record at a time, and the bad one goes to the DLQ with ClickHouse's reason.
        await insertRows(ch, db, table, rows);
        inserted += rows.length;
        await redelivery.stored(records);
      }
      return [];
    },
  });
  const assignments = stage.source.assignments$.subscribe({ next: () => redelivery.reassigned(), error: () => undefined });
  return {
    ...stage,
    rowsInserted: () => inserted,
    redeliveredSkipped: () => redelivery.skipped,
    async stop() {
      await stage.stop();
      assignments.unsubscribe();
      await ch.close();
    },
  };
}
