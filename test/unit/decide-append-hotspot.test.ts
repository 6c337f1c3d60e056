/**
 * Append hot spots (processors/decide/actions/appendHotSpot.ts): the frontier is recognised from
 * key buckets, the engine recommends hashing the key only where inserts pile onto the newest
 * range and no split or replica could spread it, and a finished hashing rekey drops replicas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOW, STEP, fc, flat, twoNodes } from './decide-helpers.js';
import { aggregate } from './sim-helpers.js';
import { type BucketSpec, appendFrontier, applyCommand, buildState, decide } from '../../processors/decide/index.js';
import { KeyGrowth } from '../../processors/decide/keyGrowth.js';
import { DecideRounds } from '../../processors/decide/rounds.js';
import type { AnyCommand, WorkloadAggregate } from '../../schemas/types.js';

const bucket = (reads: number, writes: number, peak = reads + writes) => ({
  total: flat(peak),
  currentReads: reads,
  currentWrites: writes,
});

test('appendFrontier: the load ends at a hot frontier with empty key space above it', () => {
  const f = appendFrontier([bucket(50, 5), bucket(80, 10), bucket(600, 150, 900), bucket(0, 0), bucket(0, 0)]);
  assert.deepEqual({ frontier: f?.frontier, hottest: f?.hottest, peak: f?.peak }, { frontier: 2, hottest: 2, peak: 900 });
  assert.equal(f!.writeShare, 150 / 165);
  // while the frontier bucket fills, the one below it may still be the hottest
  assert.equal(appendFrontier([bucket(50, 5), bucket(600, 50), bucket(100, 100), bucket(0, 0)])?.hottest, 1);
  // a hot spot with load on both sides, or below the top, is not a frontier
  assert.equal(appendFrontier([bucket(50, 5), bucket(600, 50), bucket(50, 5), bucket(50, 5)]), null);
  assert.equal(appendFrontier([bucket(600, 50), bucket(10, 1), bucket(10, 1), bucket(0, 0)]), null);
  // the frontier in the last (unbounded) bucket leaves no empty key space to tell it by: its
  // written keys must have been seen growing
  assert.equal(appendFrontier([bucket(50, 5), bucket(100, 10), bucket(600, 150)]), null);
  const growing = appendFrontier([bucket(50, 5), bucket(100, 10), { ...bucket(600, 150), appending: true }]);
  assert.deepEqual([growing?.frontier, growing?.hottest], [2, 2]);
  assert.equal(appendFrontier([bucket(0, 0), bucket(0, 0)]), null);
});

test('KeyGrowth: a bucket whose written keys move up window after window grows; overlapping or random keys do not', () => {
  const g = new KeyGrowth();
  const w = (series: string, window: number, min: number, max: number) =>
    g.observe(
      aggregate({
        seriesId: series,
        windowStart: window * STEP,
        windowEnd: (window + 1) * STEP,
        source: 's',
        queries: 1,
        writeKeyMin: min,
        writeKeyMax: max,
      }),
    );
  for (let i = 0; i < 6; i++) {
    // appends: each window's keys above the last one's, a little out of order at the seams;
    // the window's parts from two ingest instances arrive apart and merge
    w('s|t|k7|p0|n1', i, 1000 + i * 100 - 5, 1000 + i * 100 + 60);
    w('s|t|k7|p1|n2', i, 1000 + i * 100 + 40, 1000 + i * 100 + 95);
    // random keys over the whole bucket, and a few hot keys
    w('s|t|k3', i, 150 + (i % 3), 199 - (i % 2));
    w('s|u|k0', i, 7, 9);
  }
  // a window's part from another instance arriving after a newer window: merged nowhere, no harm
  w('s|t|k7|p2|n3', 2, 0, 5);
  w('s|t|k7', 6, 1600, 1690);
  assert.deepEqual([...g.growing()], ['s|t|k7']);
  // keys that go back down break the run
  w('s|t|k7', 7, 10, 20);
  w('s|t|k7', 8, 30, 40);
  assert.deepEqual([...g.growing()], []);
});

test('decide rounds mark the buckets whose written keys grow: an append frontier in the last bucket is recommended for hashing', () => {
  // eight buckets, the last unbounded above; the newest keys are written in it, and nothing says
  // the key space above is empty
  const buckets: BucketSpec[] = Array.from({ length: 8 }, (_, i) => ({
    seriesId: `s|t|k${i}`,
    table: 't',
    lo: i * 50,
    hi: i === 7 ? Number.MAX_SAFE_INTEGER : (i + 1) * 50,
  }));
  const run = (growingKeys: boolean) => {
    const rounds = new DecideRounds({ capacity: 1000, warmupWindows: 1 });
    for (let k = 0; k < 6; k++) {
      const windowStart = NOW - (6 - k) * STEP;
      for (let i = 0; i < 8; i++) {
        const top = i === 7;
        const base = 350 + k * 10;
        rounds.observeAggregate(
          aggregate({
            seriesId: `s|t|k${i}`,
            windowStart,
            windowEnd: windowStart + STEP,
            source: 's',
            table: 't',
            queries: top ? 1200 : 20,
            reads: top ? 900 : 18,
            writes: top ? 300 : 2,
            writeKeyMin: top ? (growingKeys ? base * 10 : 400) : i * 50 + 1,
            writeKeyMax: top ? (growingKeys ? base * 10 + 90 : 480) : i * 50 + 40,
          }),
        );
      }
    }
    for (let i = 0; i < 8; i++) rounds.observeForecast(fc(`s|t|k${i}`, flat(i === 7 ? 1200 : 20)));
    const now = rounds.due();
    assert.ok(now !== null);
    return rekeysOf(rounds.decide(twoNodes({ buckets }), now).result.commands);
  };
  const [cmd] = run(true);
  assert.ok(cmd, 'growing keys in the last bucket: hash the key');
  assert.deepEqual([cmd.params.keyColumns, cmd.params.keyHash], ['id', 'true']);
  assert.equal(run(false).length, 0, 'the same load at keys that do not grow: a hot range, not an append frontier');
});

/** Table t over [0, 400) in eight buckets of 50: load up to bucket `frontier`, nothing above. */
function appendCase(frontierReads: number, frontierWrites: number) {
  const buckets: BucketSpec[] = Array.from({ length: 8 }, (_, i) => ({ seriesId: `t|k${i}`, table: 't', lo: i * 50, hi: (i + 1) * 50 }));
  const load = [20, 20, 20, 20, 40, frontierReads + frontierWrites, 0, 0];
  const forecasts = load.map((v, i) => fc(`t|k${i}`, flat(v)));
  const aggregates: WorkloadAggregate[] = load.map((v, i) =>
    aggregate({
      seriesId: `t|k${i}`,
      windowStart: NOW - STEP,
      windowEnd: NOW,
      source: 's',
      table: 't',
      queries: v,
      reads: i === 5 ? frontierReads : v * 0.9,
      writes: i === 5 ? frontierWrites : v * 0.1,
    }),
  );
  return { buckets, forecasts, aggregates };
}

const rekeysOf = (cmds: readonly AnyCommand[]) => cmds.filter((c) => c.action === 'rekey');

test('decide recommends hashing the key of a table whose inserts pile onto its newest range', () => {
  const { buckets, forecasts, aggregates } = appendCase(900, 300);
  const r = decide(twoNodes({ buckets }), forecasts, aggregates, NOW, {});
  const [cmd] = rekeysOf(r.commands);
  assert.ok(cmd, r.explanations.join('\n'));
  assert.equal(cmd.kind, 'partition');
  assert.deepEqual([cmd.params.keyColumns, cmd.params.keyHash, cmd.params.previousKey], ['id', 'true', 'id']);
  assert.equal(cmd.requiresApproval, true);
  assert.match(cmd.explanation, /hash t's key id: inserts append at its newest key range/);

  // not while the frontier is small (under rekey.appendNodes of a node), nor when templates scan the key by range
  const small = appendCase(240, 60);
  assert.equal(rekeysOf(decide(twoNodes({ buckets: small.buckets }), small.forecasts, small.aggregates, NOW, {}).commands).length, 0);
  const scanned = twoNodes({
    buckets,
    templates: [{ table: 't', templateId: 'q1', count: 500, columns: ['id'], kind: 'range', indexed: true, meanLatencyMs: 5 }],
  });
  assert.equal(rekeysOf(decide(scanned, forecasts, aggregates, NOW, {}).commands).length, 0);
  // nor once the key is hashed
  const hashed = twoNodes({ buckets });
  hashed.tables = hashed.tables.map((t) => ({ ...t, keyHash: true }));
  assert.equal(rekeysOf(decide(hashed, forecasts, aggregates, NOW, {}).commands).length, 0);
});

test('a finished hashing rekey marks the key hashed and leaves the shards without replicas', () => {
  const input = twoNodes();
  input.partitions = input.partitions.map((p, i) => (i === 0 ? { ...p, replicas: ['n2'] } : p));
  const cmd = {
    kind: 'partition',
    commandId: 'rk',
    table: 't',
    partition: null,
    action: 'rekey',
    params: { keyColumns: 'id', keyHash: 'true' },
  } as unknown as AnyCommand;
  const after = applyCommand(buildState(input), cmd);
  assert.equal(after.tableByName.get('t')!.keyHash, true);
  assert.ok(after.partitions.every((p) => !p.replicas?.length));
  assert.deepEqual(
    after.partitions.map((p) => [p.id, p.node]),
    input.partitions.map((p) => [p.id, p.node]),
  );
});
