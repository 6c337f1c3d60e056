/**
 * What a fault row reads back: the row's whole-source aggregates from the aggregates topic
 * (read committed, from the beginning, by a group of its own), and the sink's rows in ClickHouse.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClickHouse, queryRows } from '../../analytics/clickhouse.js';
import { isRetriable, StateError } from '../../lib/errors.js';
import type { PipelineContext } from '../../pipelines/context.js';
import { TOPICS } from '../../schemas/topics.js';
import type { WorkloadAggregate } from '../../schemas/types.js';
import { consumeTopics } from '../../topics/consumer.js';
import { isRowSeries } from './load.js';
import { type CountedWindow, type Tally, tallyRows, tallyWindows } from './tally.js';

/** After the last expected event is accounted for, how long a repeated aggregate has to show. */
const SETTLE_MS = 5_000;

export interface Observed {
  tally: Tally;
  /** Date.now() when the last event was accounted for (null: never, within the time given). */
  completeAt: number | null;
}

/** Reads the row's aggregates until they account for every event (or `timeoutMs` passes), then settles. */
export async function observeAggregates(ctx: PipelineContext, runId: string, eventsIn: number, timeoutMs: number): Promise<Observed> {
  const windows: CountedWindow[] = [];
  const reader = await consumeTopics(ctx.kafka, {
    groupId: `${runId}-observer`,
    topics: [TOPICS.aggregates.name],
    fromBeginning: true,
  });
  let failed: unknown;
  const sub = reader.batches$.subscribe({
    next: async (ms) => {
      for (const m of ms) {
        if (!m.key?.toString().startsWith(`${runId}_s`)) continue;
        const a = await ctx.serde.decode<WorkloadAggregate>(m.topic, m.value);
        if (a.table === null && isRowSeries(runId, a.seriesId))
          windows.push({ seriesId: a.seriesId, windowStart: a.windowStart, queries: a.queries });
      }
    },
    error: (err: unknown) => {
      failed = err;
    },
  });
  try {
    const completeAt = await waitFor(() => tallyWindows(eventsIn, windows).accounted >= eventsIn || failed !== undefined, timeoutMs);
    if (failed) throw failed;
    if (completeAt !== null) await sleep(SETTLE_MS);
    return { tally: tallyWindows(eventsIn, windows), completeAt };
  } finally {
    sub.unsubscribe();
    await reader.stop();
  }
}

/** Polls the sink's query_events rows of the row until every event is there (or `timeoutMs` passes). */
export async function observeSinkRows(ctx: PipelineContext, runId: string, eventsIn: number, timeoutMs: number): Promise<Observed> {
  const ch = createClickHouse(ctx.cfg);
  // this ClickHouse has no query parameters: the prefix is checked, then written into the query
  if (!/^[a-z0-9_]+$/.test(runId)) throw new StateError(`run id ${JSON.stringify(runId)}: expected [a-z0-9_]`);
  const count = async () => {
    const [r] = await queryRows<{ rows: string; ids: string }>(
      ch,
      `SELECT count() AS rows, uniqExact(event_id) AS ids FROM ${ctx.cfg.clickhouseDatabase}.query_events WHERE startsWith(source, '${runId}_s')`,
    ).catch((err: unknown) => {
      // ClickHouse may still be starting: that is "not yet"; anything else is a failure of the row
      if (!isRetriable(err)) throw err;
      return [{ rows: '0', ids: '0' }];
    });
    return tallyRows(eventsIn, Number(r?.rows ?? 0), Number(r?.ids ?? 0));
  };
  try {
    let last = await count();
    const completeAt = await waitFor(async () => {
      last = await count();
      return last.accounted >= eventsIn;
    }, timeoutMs);
    if (completeAt !== null) await sleep(SETTLE_MS);
    return { tally: await count(), completeAt };
  } finally {
    await ch.close();
  }
}

/** Polls `done` every 500 ms; the time it first held, or null after `timeoutMs`. */
export async function waitFor(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await done()) return Date.now();
    await sleep(500);
  }
  return null;
}
