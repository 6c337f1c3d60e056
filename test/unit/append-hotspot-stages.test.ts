/**
 * An append hot spot through the pure stages, from SQL to the recommendation: inserts at
 * growing ids and reads of the newest rows, all past the last configured bound, go through
 * ingest (featurize, windows) to the decide rounds, which see the written keys grow in the
 * unbounded last bucket and recommend hashing the key. The same load at ids that do not grow
 * (inserts spread over the same range) is a hot range, not an append frontier: no hash.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, toArray } from 'rxjs';
import { queryEvent } from '../../schemas/queryEvent.js';
import type { WorkloadAggregate } from '../../schemas/types.js';
import { ingestBatchProcessor } from '../../processors/ingest/operator.js';
import type { IngestInput } from '../../processors/ingest/processor.js';
import { initSqlParsers } from '../../processors/ingest/sql/index.js';
import { DecideRounds } from '../../processors/decide/rounds.js';
import { bucketsFor } from '../../processors/decide/series.js';
import { fc, flat, twoNodes } from './decide-helpers.js';

before(async () => {
  await initSqlParsers();
});

const WINDOW = 60_000;
const T0 = 28_333_334 * WINDOW;
// the configured buckets end at 7000: everything the workload writes is in the last one
const key = { column: 'id', bounds: [1000, 2000, 3000, 4000, 5000, 6000, 7000] };

async function aggregatesOf(growing: boolean): Promise<WorkloadAggregate[]> {
  const batches: IngestInput[][] = [];
  let off = 0;
  let next = 8000;
  for (let w = 0; w < 8; w++) {
    const batch: IngestInput[] = [];
    const add = (ts: number, sql: string) =>
      batch.push({
        topic: 'shardcast.telemetry.queries',
        partition: 0,
        offset: String(off),
        key: null,
        raw: Buffer.from(''),
        value: queryEvent({ eventId: `e${off++}`, ts, source: 'app', dialect: 'postgres', sql, durationMs: 1 }),
      });
    for (let i = 0; i < 300; i++) {
      const ts = T0 + w * WINDOW + i * 150;
      // appends take the next id; the control writes the same number of rows over a fixed range
      const id = growing ? next++ : 7100 + ((i * 37) % 800);
      add(ts, `INSERT INTO events (id, v) VALUES (${id}, 1)`);
      for (let r = 0; r < 3; r++) add(ts + r, `SELECT * FROM events WHERE id = ${Math.max(7001, id - r * 7)}`);
      if (i % 15 === 0) add(ts + 5, `SELECT * FROM events WHERE id = ${(i * 131) % 7000}`);
    }
    batches.push(batch);
  }
  const out = await lastValueFrom(
    from(batches).pipe(
      ingestBatchProcessor({ featurize: { partitionKeys: { events: key } }, windowMs: WINDOW, allowedLatenessMs: 0 }),
      toArray(),
    ),
  );
  return out.flat().flatMap((o) => (o.kind === 'out' ? [o.value] : []));
}

async function recommendation(growing: boolean) {
  const aggregates = await aggregatesOf(growing);
  const rounds = new DecideRounds({ capacity: 1000, warmupWindows: 1 });
  for (const a of aggregates) rounds.observeAggregate(a);
  const last = Math.max(...aggregates.map((a) => a.windowStart));
  const buckets = bucketsFor('app', 'events', key);
  // forecasts that carry each bucket's newest load on (the forecaster is not what is tested)
  for (const b of buckets) {
    const a = aggregates.find((x) => x.seriesId === b.seriesId && x.windowStart === last);
    rounds.observeForecast({ ...fc(b.seriesId, flat(a?.queries ?? 0)), originTs: last, issuedAt: last + WINDOW, stepMs: WINDOW });
  }
  const now = rounds.due();
  assert.ok(now !== null);
  const state = twoNodes({ buckets });
  state.tables = [{ name: 'events', store: 'pg', storeKind: 'postgres', keyColumns: ['id'] }];
  state.partitions = state.partitions.map((p, i) => ({
    ...p,
    table: 'events',
    lo: i === 0 ? null : i * 2000,
    hi: i === 3 ? null : (i + 1) * 2000,
  }));
  const round = rounds.decide(state, now, { stepMs: WINDOW, horizonSteps: 10 });
  return { aggregates, rekeys: round.result.commands.filter((c) => c.action === 'rekey'), explanations: round.result.explanations };
}

test('inserts at growing ids past the last bound: ingest reports the written keys, decide recommends hashing the key', async () => {
  const { aggregates, rekeys, explanations } = await recommendation(true);
  const top = aggregates.filter((a) => a.seriesId === 'app|events|k7').sort((a, b) => a.windowStart - b.windowStart);
  assert.equal(top.length, 8);
  assert.deepEqual([top[0]!.writeKeyMin, top[0]!.writeKeyMax, top[1]!.writeKeyMin], [8000, 8299, 8300]);
  assert.equal(rekeys.length, 1, explanations.join('\n'));
  assert.deepEqual([rekeys[0]!.params.keyColumns, rekeys[0]!.params.keyHash], ['id', 'true']);
});

test('the same load at ids that do not grow: no hash', async () => {
  const { rekeys } = await recommendation(false);
  assert.equal(rekeys.length, 0);
});
