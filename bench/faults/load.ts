/**
 * The load of one fault row: N query events over a few sources of the row's own, spread over
 * SPAN_MS of event time from the row's start, then one closing event per partition of the
 * queries topic, later than every window of the row, so ingest closes them all (watermarks are
 * per partition: a partition with no newer event would hold the last window open).
 */
import type { PipelineContext } from '../../pipelines/context.js';
import { TOPICS } from '../../schemas/topics.js';
import { queryEvent } from '../../schemas/queryEvent.js';
import type { QueryEvent } from '../../schemas/types.js';

export const SPAN_MS = 60_000;
const SOURCES = 8;
const CHUNK = 5_000;
/** The closing events' distance past the row's last event: beyond any window and lateness. */
const CLOSE_AFTER_MS = 60_000;

export interface RowLoad {
  runId: string;
  t0: number;
  events: QueryEvent[];
}

const event = (runId: string, source: string, i: number, ts: number): QueryEvent =>
  queryEvent({
    eventId: `${runId}-${i}`,
    ts,
    source,
    dialect: 'postgres',
    database: 'shop',
    sql: `SELECT * FROM orders WHERE id = ${i % 997}`,
    durationMs: 1,
    rowsRead: 1,
  });

export function rowLoad(runId: string, t0: number, n: number): RowLoad {
  const events = Array.from({ length: n }, (_, i) => event(runId, `${runId}_s${i % SOURCES}`, i, t0 + Math.floor((i * SPAN_MS) / n)));
  return { runId, t0, events };
}

/** Whole-source series of the row's sources: each event counts in exactly one window of one. */
export const isRowSeries = (runId: string, seriesId: string): boolean => seriesId.startsWith(`${runId}_s`) && seriesId.endsWith('|*|*');

/** Publishes the events in `[from, to)`, in event-time order. */
export async function publish(ctx: PipelineContext, load: RowLoad, from = 0, to = load.events.length): Promise<void> {
  for (let i = from; i < to; i += CHUNK) {
    const slice = load.events.slice(i, Math.min(i + CHUNK, to));
    await ctx.producer.send(
      TOPICS.queries.name,
      slice.map((e) => ({ key: e.source, value: e })),
    );
  }
}

/** One event per partition past the row's windows: closes them (its source is not counted). */
export async function publishClosers(ctx: PipelineContext, load: RowLoad): Promise<void> {
  const ts = load.t0 + SPAN_MS + CLOSE_AFTER_MS;
  const closers = Array.from({ length: TOPICS.queries.partitions }, (_, p) => ({
    key: `${load.runId}_end`,
    value: event(load.runId, `${load.runId}_end`, -1 - p, ts),
    partition: p,
  }));
  await ctx.producer.send(TOPICS.queries.name, closers);
}
