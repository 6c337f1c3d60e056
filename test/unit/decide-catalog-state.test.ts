/**
 * The decide pipeline's pure translation between the store and the engine: the planning state
 * built from the catalog's placement view (which nodes may take load, what is recent or in
 * flight, co-access on partitions) or from the routing map, series folded onto key buckets, the
 * engine's commands renamed to the executor's shards, and the verdict on held commands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PG_STORE,
  type PlannedTables,
  ledgerCommands,
  stateFromCatalog,
  stateFromRouting,
  ISSUED_GRACE_MS,
} from '../../processors/decide/postgres/state.js';
import { currentKeys } from '../../schemas/keyBuckets.js';
import { heldCheckDue, judgeHeld, releaseWithinMoveLimits } from '../../processors/decide/dependencies.js';
import { foldAggregates, foldForecasts } from '../../processors/decide/series.js';
import { toStoreCommands } from '../../processors/decide/postgres/commands.js';
import type { PlacementView } from '../../catalog/placement.js';
import type { AnyCommand, Forecast, WorkloadAggregate } from '../../schemas/types.js';

const NOW = 1_700_000_000_000;
const part = (partition: string, lo: string | null, hi: string | null, node: string, replicas: string[] = []) => ({
  table: 'orders',
  keyColumn: 'id',
  partition,
  lo,
  hi,
  rows: 1000,
  bytes: 65536,
  node,
  replicas,
});
const cmd = (id: string, status: string, extra: Partial<PlacementView['commands'][number]> = {}) => ({
  id,
  action: 'move',
  table: 'orders',
  partition: 's0',
  sourceNode: 'node0',
  targetNode: 'node1',
  status,
  issuedAt: NOW - 60_000,
  resultTs: null,
  deadline: null,
  ...extra,
});

const view = (over: Partial<PlacementView> = {}): PlacementView => ({
  nodes: [
    { name: 'node0', state: 'active', capacity: 100 },
    { name: 'node1', state: 'active', capacity: 100 },
    { name: 'node2', state: 'unreachable', capacity: 100 },
    { name: 'node3', state: 'stopped', capacity: 100 },
    { name: 'node4', state: 'draining', capacity: 100 },
  ],
  partitions: [part('s0', null, '500', 'node0'), part('s1', '500', '1000', 'node1', ['node2']), part('s2', '1000', null, 'node2')],
  commands: [],
  ...over,
});
const TABLES = { orders: { column: 'id', bounds: [250, 500, 1000] } };

test('nodes that are down, stopped or draining take no load; partitions on them are not planned; replicas there are dropped', () => {
  const s = stateFromCatalog(view(), TABLES, 'app', { now: NOW, capacity: 60 });
  assert.deepEqual(
    s.nodes.map((n) => [n.id, n.capacity]),
    [
      ['node0', 60],
      ['node1', 60],
    ],
  );
  assert.deepEqual(
    s.partitions.map((p) => [p.id, p.node, p.lo, p.hi, p.replicas]),
    [
      ['orders/s0', 'node0', null, 500, []],
      ['orders/s1', 'node1', 500, 1000, []],
    ],
  );
  const M = Number.MAX_SAFE_INTEGER;
  assert.deepEqual(
    s.buckets!.map((b) => [b.lo, b.hi]),
    [
      [-M, 250],
      [250, 500],
      [500, 1000],
      [1000, M],
    ],
  );
});

test('succeeded and unsuccessful commands are recent (cooldown); accepted ones and issued ones before their deadline (or grace) are in flight', () => {
  const s = stateFromCatalog(
    view({
      commands: [
        cmd('ok', 'SUCCEEDED', { resultTs: NOW - 5_000 }),
        cmd('failed', 'FAILED', { resultTs: NOW - 4_000, partition: 's1', sourceNode: 'node1', targetNode: 'node2' }),
        cmd('refused', 'REJECTED', { resultTs: NOW - 3_000 }),
        cmd('running', 'RUNNING', { deadline: NOW + 30_000 }),
        cmd('queued', 'ISSUED', { deadline: NOW + 10_000 }),
        // past its deadline and its grace: re-plannable
        cmd('expired', 'ISSUED', { deadline: NOW - 1, issuedAt: NOW - ISSUED_GRACE_MS - 1 }),
      ],
    }),
    TABLES,
    'app',
    { now: NOW },
  );
  assert.deepEqual(
    s.recent!.map((r) => [r.commandId, r.target, r.ts]),
    [
      ['ok', 'orders/s0', NOW - 5_000],
      ['failed', 'orders/s1', NOW - 4_000],
      ['refused', 'orders/s0', NOW - 3_000],
    ],
  );
  assert.deepEqual(
    s.inFlight!.map((f) => [f.commandId, f.partition, f.waiting]),
    [
      ['running', 'orders/s0', false],
      ['queued', 'orders/s0', true],
    ],
  );
});

test('co-access between key buckets lands on the partitions that hold each bucket whole', () => {
  const s = stateFromCatalog(view(), TABLES, 'app', {
    now: NOW,
    coAccess: [
      { a: { table: 'orders', lo: 250, hi: 500 }, b: { table: 'orders', lo: 500, hi: 1000 }, weight: 7 },
      { a: { table: 'orders', lo: null, hi: 250 }, b: { table: 'orders', lo: 500, hi: 1000 }, weight: 3 },
      { a: { table: 'orders', lo: 250, hi: 500 }, b: { table: 'orders', lo: null, hi: 250 }, weight: 99 }, // same partition
      { a: { table: 'orders', lo: 400, hi: 600 }, b: { table: 'orders', lo: 500, hi: 1000 }, weight: 5 }, // spans two partitions
    ],
  });
  assert.deepEqual(s.coAccess, [{ a: 'orders/s0', b: 'orders/s1', weight: 10 }]);
});

test("commands get the executor's shard names: a split's new shard is a free name, and a later move of its child follows it", () => {
  const v = view();
  const state = { partitions: stateFromCatalog(v, TABLES, 'app', { now: NOW }).partitions };
  const base = { store: 'pg-shards', storeKind: 'postgres', table: 'orders', issuedAt: NOW, deadline: NOW + 60_000 } as const;
  const cmds = [
    {
      ...base,
      kind: 'partition',
      commandId: 'c1',
      action: 'split',
      partition: 'orders/s0',
      params: { splitAt: '250', leftId: 'orders[-inf,250)', rightId: 'orders[250,500)' },
    },
    {
      ...base,
      kind: 'shard',
      commandId: 'c2',
      action: 'move',
      partition: 'orders[250,500)',
      sourceNode: 'node0',
      targetNode: 'node1',
      params: { dependsOn: 'c1' },
    },
    { ...base, kind: 'resource', commandId: 'c3', action: 'scale_out', node: null, params: {} },
  ] as unknown as AnyCommand[];
  // s2 lives on a node that is down: not planned, but its name is taken
  const out = toStoreCommands(
    cmds,
    state,
    v.partitions.map((p) => ({ table: p.table, shard: p.partition })),
  );
  assert.equal(out[0]!.kind === 'partition' && out[0]!.partition, 's0');
  assert.equal(out[0]!.params.newShard, 's3', 's0, s1 and s2 are taken');
  assert.equal(out[1]!.kind === 'shard' && out[1]!.partition, 's3', 'the move names the split-off shard');
  assert.equal(out[1]!.params.dependsOn, 'c1');
  assert.equal(out[2], cmds[2], 'resource commands pass unchanged');
});

test('from the routing map: active nodes only, managed ones removable, unsized shards count as empty, unrouted tables skipped', () => {
  const s = stateFromRouting(
    {
      nodes: [
        { node: 'node0', state: 'active', managedDir: null },
        { node: 'node1', state: 'active', managedDir: '/data/node1' },
        { node: 'node2', state: 'removed', managedDir: null },
      ],
      tables: [
        {
          table: 'orders',
          shards: [
            { shard: 's0', lo: null, hi: '500', node: 'node0', replicas: [], bytes: 4096, rows: 10 },
            { shard: 's1', lo: '500', hi: null, node: 'node1', replicas: ['node0'], bytes: null, rows: null },
          ],
        },
      ],
    },
    { ...TABLES, other: { column: 'id', bounds: [10] } },
    'app',
    70,
  );
  assert.deepEqual(
    s.nodes.map((n) => [n.id, n.capacity, n.removable]),
    [
      ['node0', 70, false],
      ['node1', 70, true],
    ],
  );
  assert.deepEqual(
    s.partitions.map((p) => [p.id, p.lo, p.hi, p.sizeBytes, p.rows, p.replicas]),
    [
      ['orders/s0', null, 500, 4096, 10, []],
      ['orders/s1', 500, null, 0, 0, ['node0']],
    ],
  );
  assert.deepEqual(
    s.buckets!.map((b) => b.seriesId),
    ['app|orders|k0', 'app|orders|k1', 'app|orders|k2', 'app|orders|k3'],
  );
  assert.deepEqual(
    s.tables.map((t) => t.name),
    ['orders', 'other'],
  );
});

test('from the routing map with the ledger as history: finished commands cool down, taken ones are in flight, a node scaled in is gone', () => {
  const command = (commandId: string, action: string, extra: Record<string, unknown>) => ({
    commandId,
    action,
    store: PG_STORE,
    issuedAt: NOW - 120_000,
    deadline: NOW + 600_000,
    ...extra,
  });
  const rows = [
    {
      command: command('c-move', 'move', { kind: 'shard', table: 'orders', partition: 's0', sourceNode: 'node0', targetNode: 'node1' }),
      status: 'SUCCEEDED',
      updatedAt: NOW - 30_000,
    },
    {
      command: command('c-split', 'split', { kind: 'partition', table: 'orders', partition: 's1' }),
      status: 'RUNNING',
      updatedAt: NOW - 10_000,
    },
    { command: command('c-in', 'scale_in', { kind: 'resource', node: 'node2' }), status: 'SUCCEEDED', updatedAt: NOW - 5_000 },
    // another store's command, and a row the executor took without its command: neither counts
    {
      command: command('c-ch', 'precompute', { kind: 'partition', store: 'clickhouse', table: 'events', partition: 'p' }),
      status: 'RUNNING',
      updatedAt: NOW,
    },
    { command: null, status: 'ACCEPTED', updatedAt: NOW },
  ];
  const commands = ledgerCommands(rows);
  assert.deepEqual(
    commands.map((c) => [c.id, c.status, c.resultTs]),
    [
      ['c-move', 'SUCCEEDED', NOW - 30_000],
      ['c-split', 'RUNNING', null],
      ['c-in', 'SUCCEEDED', NOW - 5_000],
    ],
  );
  const s = stateFromRouting(
    {
      nodes: ['node0', 'node1', 'node2'].map((node) => ({ node, state: 'active', managedDir: null })),
      tables: [{ table: 'orders', shards: [{ shard: 's0', lo: null, hi: '500', node: 'node1', replicas: [], bytes: 4096, rows: 10 }] }],
    },
    TABLES,
    'app',
    70,
    commands,
    NOW,
  );
  assert.deepEqual(
    s.nodes.map((n) => n.id),
    ['node0', 'node1'],
  );
  assert.deepEqual(
    s.recent!.map((r) => [r.action, r.target]),
    [
      ['move', 'orders/s0'],
      ['scale_in', 'node2'],
    ],
  );
  assert.deepEqual(
    s.inFlight!.map((f) => [f.action, f.partition]),
    [['split', 'orders/s1']],
  );
});

test('from the routing map: the commands the stage knows of are in flight or recent, as the catalog would show them', () => {
  const snap = {
    nodes: [
      { node: 'node0', state: 'active', managedDir: null },
      { node: 'node1', state: 'active', managedDir: null },
    ],
    tables: [{ table: 'orders', shards: [{ shard: 's0', lo: null, hi: null, node: 'node0', replicas: [], bytes: 1, rows: 1 }] }],
  };
  const commands = [
    cmd('running', 'ISSUED', { deadline: NOW + 60_000 }),
    cmd('done', 'SUCCEEDED', { partition: 's1', resultTs: NOW - 1_000 }),
  ];
  const s = stateFromRouting(snap, TABLES, 'app', 70, commands, NOW);
  assert.deepEqual(
    s.inFlight?.map((f) => [f.commandId, f.partition, f.waiting]),
    [['running', 'orders/s0', true]],
  );
  assert.deepEqual(
    s.recent?.map((r) => [r.commandId, r.target]),
    [['done', 'orders/s1']],
  );
  assert.deepEqual(stateFromRouting(snap, TABLES, 'app', 70).inFlight, []);
});

test("per-node series are summed onto their bucket's series", () => {
  const point = (predicted: number) => ({ horizon: 1, ts: NOW + 60_000, predicted, lower: predicted - 1, upper: predicted + 1 });
  const f = (seriesId: string, v: number) =>
    ({ seriesId, issuedAt: NOW, originTs: NOW, stepMs: 60_000, points: [point(v)] }) as unknown as Forecast;
  const out = foldForecasts([f('app|orders|k0|s0|node0', 10), f('app|orders|k0|s0|node1', 5), f('app|orders|k1', 3)]);
  assert.deepEqual(
    out.map((x) => [x.seriesId, x.points[0]!.predicted, x.points[0]!.lower, x.points[0]!.upper]),
    [
      ['app|orders|k0', 15, 13, 17],
      ['app|orders|k1', 3, 2, 4],
    ],
  );
  const a = (seriesId: string, q: number) =>
    ({ seriesId, queries: q, reads: q, writes: 0, node: 'node0', partition: 's0' }) as unknown as WorkloadAggregate;
  const agg = foldAggregates([a('app|orders|k0|s0|node0', 4), a('app|orders|k0|s0|node1', 6)]);
  assert.deepEqual(
    agg.map((x) => [x.seriesId, x.queries, x.reads, x.node, x.partition]),
    [['app|orders|k0', 10, 10, null, null]],
  );
});

test('held commands: released when every dependency succeeded, dropped when one did not or past their deadline, else kept', () => {
  const held = (commandId: string, dependsOn: string, deadline = NOW + 60_000) =>
    ({ commandId, deadline, params: { dependsOn } }) as unknown as AnyCommand;
  const status = new Map([
    ['a', 'SUCCEEDED'],
    ['b', 'SUCCEEDED'],
    ['f', 'ROLLED_BACK'],
    ['r', 'RUNNING'],
  ]);
  const v = judgeHeld(
    [held('c1', 'a,b'), held('c2', 'a,f'), held('c3', 'r', NOW - 1), held('c4', 'r'), held('c5', 'unknown')],
    status,
    NOW,
  );
  assert.deepEqual(
    v.map((x) => [x.commandId, x.verdict]),
    [
      ['c1', 'release'],
      ['c2', 'drop-failed'],
      ['c3', 'drop-deadline'],
      ['c4', 'wait'],
      ['c5', 'wait'],
    ],
  );
  assert.deepEqual(v[1]!.verdict === 'drop-failed' && v[1]!.failed, ['f']);
});

test('held commands are looked at only when a result settles a dependency or a deadline passes', () => {
  const held = (commandId: string, dependsOn: string, deadline = NOW + 60_000) =>
    ({ commandId, deadline, params: { dependsOn } }) as unknown as AnyCommand;
  const waiting = [held('c1', 'a,b'), held('c2', 'r')];
  assert.equal(heldCheckDue([], new Set(['a']), NOW), false, 'nothing held');
  assert.equal(heldCheckDue(waiting, new Set(), NOW), false, 'no result, no deadline: the ledger is not read');
  assert.equal(heldCheckDue(waiting, new Set(['x']), NOW), false, 'a result for another command');
  assert.equal(heldCheckDue(waiting, new Set(['b']), NOW), true, 'a dependency settled');
  assert.equal(heldCheckDue(waiting, new Set(), NOW + 60_001), true, 'a deadline passed');
  assert.equal(heldCheckDue(waiting, new Set(['x']), NOW, true), true, 'a command finished while a ready move waits for a slot');
  assert.equal(heldCheckDue(waiting, new Set(), NOW, true), false, 'nothing finished: no slot freed');
});

test('released moves go out within the move limits beside those running; the rest wait, or drop past their deadline', () => {
  const cmd = (commandId: string, action: string, deadline = NOW + 60_000) => ({ commandId, action, deadline }) as unknown as AnyCommand;
  const limits = { maxConcurrentMoves: 4, maxBytesPerMinute: 4 * 16 * 1024 ** 2 * 60, throttleBytesPerSec: 16 * 1024 ** 2 };
  const ready = [cmd('m1', 'move'), cmd('s1', 'split'), cmd('r1', 'replicate'), cmd('m2', 'move'), cmd('m3', 'move', NOW - 1)];
  const ids = (cs: readonly AnyCommand[]) => cs.map((c) => c.commandId);
  // two running: two slots, taken in held order; a split moves no data and always goes
  const r = releaseWithinMoveLimits(ready, 2, limits, NOW);
  assert.deepEqual([ids(r.release), ids(r.waiting), ids(r.expired)], [['m1', 's1', 'r1'], ['m2'], ['m3']]);
  assert.deepEqual(ids(releaseWithinMoveLimits(ready, 0, limits, NOW).release), ['m1', 's1', 'r1', 'm2', 'm3']);
  // the bandwidth limit binds first: two moves' throttle rates fill it
  const narrow = { ...limits, maxBytesPerMinute: 2 * 16 * 1024 ** 2 * 60 };
  assert.deepEqual(ids(releaseWithinMoveLimits(ready, 1, narrow, NOW).release), ['m1', 's1']);
  // an unreadable ledger (running unknown) releases no move
  assert.deepEqual(ids(releaseWithinMoveLimits(ready, Number.POSITIVE_INFINITY, limits, NOW).release), ['s1']);
});

test('a node being scaled in takes no load though the catalog still lists it active; a later scale_out brings it back', () => {
  const nodes = [
    { name: 'node0', state: 'active', capacity: 100 },
    { name: 'node1', state: 'active', capacity: 100 },
    { name: 'node5', state: 'active', capacity: 100 },
  ];
  const scale = (id: string, action: string, status: string, at: number) =>
    cmd(id, status, {
      action,
      table: null,
      partition: null,
      sourceNode: null,
      targetNode: 'node5',
      issuedAt: at,
      resultTs: status === 'RUNNING' ? null : at,
    });
  const ids = (commands: PlacementView['commands']) =>
    stateFromCatalog(view({ nodes, commands }), TABLES, 'app', { now: NOW }).nodes.map((n) => n.id);
  assert.deepEqual(ids([scale('in-1', 'scale_in', 'RUNNING', NOW - 5_000)]), ['node0', 'node1'], 'under way');
  assert.deepEqual(ids([scale('in-1', 'scale_in', 'SUCCEEDED', NOW - 5_000)]), ['node0', 'node1'], 'done, not yet rediscovered');
  assert.deepEqual(ids([scale('in-1', 'scale_in', 'FAILED', NOW - 5_000)]), ['node0', 'node1', 'node5'], 'failed: still there');
  assert.deepEqual(
    ids([scale('in-1', 'scale_in', 'SUCCEEDED', NOW - 50_000), scale('out-1', 'scale_out', 'SUCCEEDED', NOW - 5_000)]),
    ['node0', 'node1', 'node5'],
    'scaled out again',
  );
});

test('a table re-keyed by the executor: planned with the key the store reports, its shards left out of range planning', () => {
  const rekeyed = (p: ReturnType<typeof part>) => ({ ...p, keyColumn: 'customer_id' });
  const fromCatalog = stateFromCatalog(view({ partitions: [rekeyed(part('s3', null, '50', 'node0'))] }), TABLES, 'app', { now: NOW });
  const shards = [{ shard: 's3', lo: null, hi: '50', node: 'node0', replicas: [], bytes: 4096, rows: 10 }];
  const fromRouting = stateFromRouting(
    { nodes: [{ node: 'node0', state: 'active', managedDir: null }], tables: [{ table: 'orders', keyColumn: 'customer_id', shards }] },
    TABLES,
    'app',
    70,
  );
  for (const s of [fromCatalog, fromRouting]) {
    assert.deepEqual(s.tables[0]!.keyColumns, ['customer_id']);
    assert.deepEqual(s.partitions, []);
    assert.deepEqual(s.buckets ?? [], []);
  }
  // Keyed as configured: planned as before.
  assert.equal(stateFromCatalog(view(), TABLES, 'app', { now: NOW }).tables[0]!.keyColumns[0], 'id');
});

test('a table keyed on the hash of its key: planned as hashed (no second hash recommended); its shards planned by ranges of the hash once the rekey recorded them', () => {
  const hashed = (p: ReturnType<typeof part>) => ({ ...p, keyColumn: 'hash(id)' });
  const shards = [{ shard: 's3', lo: null, hi: '0', node: 'node0', replicas: [], bytes: 4096, rows: 10 }];
  const states = (tables: PlannedTables) => [
    stateFromCatalog(view({ partitions: [hashed(part('s3', null, '0', 'node0'))] }), tables, 'app', { now: NOW }),
    stateFromRouting(
      { nodes: [{ node: 'node0', state: 'active', managedDir: null }], tables: [{ table: 'orders', keyColumn: 'hash(id)', shards }] },
      tables,
      'app',
      70,
    ),
  ];
  // the planned key is still the configured one (no bounds of the hash recorded): left out
  for (const s of states(TABLES)) {
    assert.deepEqual([s.tables[0]!.keyColumns, s.tables[0]!.keyHash], [['id'], true]);
    assert.deepEqual(s.partitions, []);
    assert.deepEqual(s.buckets ?? [], []);
  }
  // the routing map's recorded hash bounds: ingest buckets the hash, and the shards are planned by it
  const keys = currentKeys(TABLES, [{ table: 'orders', column: 'id', bounds: [-(2 ** 30), 0, 2 ** 30], hashed: true }]);
  for (const s of states(keys)) {
    assert.deepEqual([s.tables[0]!.keyColumns, s.tables[0]!.keyHash], [['id'], true]);
    assert.deepEqual(
      s.partitions.map((p) => [p.id, p.lo, p.hi]),
      [['orders/s3', null, 0]],
    );
    assert.deepEqual(
      (s.buckets ?? []).map((b) => b.seriesId),
      ['app|orders|hash_id.k0', 'app|orders|hash_id.k1', 'app|orders|hash_id.k2', 'app|orders|hash_id.k3'],
    );
  }
});
