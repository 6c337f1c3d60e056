import { test } from 'node:test';
import { handWorkload } from './sim-helpers.js';
import assert from 'node:assert/strict';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { type Observation, type Policy, simulate } from '../../bench/sim/simulator.js';
import { type Workload, SUITE } from '../../bench/sim/workload.js';
import { parseTrace, toTraceCsv } from '../../bench/sim/trace.js';
import { staticPolicy } from '../../bench/sim/policies.js';
import { reactivePolicy } from '../../bench/sim/reactive.js';

const GiB = 1024 ** 3;

/** One table of `units` units; load(t, u) total, all reads unless readFrac given. */
function workload(steps: number, units: number, load: (t: number, u: number) => number, readFrac = 1): Workload {
  return handWorkload(
    steps,
    units,
    (t, u) => load(t, u) * readFrac,
    (t, u) => load(t, u) * (1 - readFrac),
  );
}

function scripted(
  name: string,
  script: Record<number, (o: Observation) => AnyCommand[]>,
  seen: CommandResult[] = [],
  nodes?: number,
): Policy {
  return {
    name,
    initialNodes: nodes === undefined ? undefined : () => nodes,
    act: (o) => {
      seen.push(...o.results);
      return script[o.step]?.(o) ?? [];
    },
  };
}

const base = {
  issuedAt: 0,
  deadline: 0,
  store: 'sim',
  storeKind: 'postgres' as const,
  params: {} as Record<string, string>,
  evidence: {
    seriesId: null,
    currentLoad: 0,
    forecastPeak: 0,
    forecastLower: 0,
    forecastUpper: 0,
    peakAt: null,
    capacity: null,
    model: null,
  },
  expectedBenefit: 0,
  expectedCost: 0,
  estimatedDurationMs: 0,
  requiresApproval: false,
  policy: 'test',
  explanation: 'test',
};

test('one node over capacity for k steps → k SLA-violation minutes', async () => {
  const w = workload(20, 4, (t) => (t >= 5 && t < 12 ? 400 : 100));
  const m = await simulate(w, staticPolicy(), { capacity: 1000, partitionsPerTable: 4 });
  // static for peak: 1600/(1000×0.85) → 2 nodes, 2 partitions each: 800 per node except steps 5..11
  const w1 = workload(20, 1, (t) => (t >= 5 && t < 12 ? 1500 : 500));
  const one = await simulate(w1, scripted('none', {}, [], 1), { capacity: 1000, partitionsPerTable: 1 });
  assert.equal(one.violationMinutes, 7);
  assert.equal(one.nodeMinutes, 20);
  assert.equal(one.peakUtil, 1.5);
  assert.equal(m.violationMinutes, 0);
  assert.equal(m.maxNodes, 2);
});

test('a migration takes bytes / rate steps, loads source and target meanwhile, then the load moves', async () => {
  const w = workload(20, 2, () => 300);
  const seen: CommandResult[] = [];
  const move = (o: Observation): AnyCommand[] => {
    const p = o.state.partitions.find((x) => x.node === 'n1')!;
    return [{ kind: 'shard', ...base, commandId: 'mv1', table: 't', partition: p.id, sourceNode: 'n1', targetNode: 'n2', action: 'move' }];
  };
  // 2 partitions of 1 GiB, 2 nodes; throttle 1 GiB per 3 minutes → 3 steps
  const pol = scripted('mover', { 2: move }, seen, 2);
  const m = await simulate(w, pol, {
    capacity: 1000,
    partitionsPerTable: 2,
    throttleBytesPerSec: GiB / 180,
    migrationOverhead: 0.1,
    keepTimeline: true,
  });
  const ok = seen.find((r) => r.commandId === 'mv1' && r.status === 'SUCCEEDED')!;
  assert.ok(ok);
  assert.equal(ok.durationMs, 3 * 60_000);
  assert.equal(ok.ts, 5 * 60_000);
  assert.equal(m.bytesMoved, GiB);
  assert.equal(m.actions, 1);
  // during the move (steps 2..4): 300 + 100 overhead on each node; afterwards n2 has 600
  assert.ok(Math.abs(m.timeline![3]!.maxUtil - 0.4) < 1e-9);
  assert.ok(Math.abs(m.timeline![6]!.maxUtil - 0.6) < 1e-9);
});

test('scale out: billed from the command, serving after the provisioning delay; replicas share reads', async () => {
  const w = workload(20, 2, () => 400);
  const seen: CommandResult[] = [];
  const pol = scripted(
    'scaler',
    {
      1: () => [
        { kind: 'resource', ...base, commandId: 'so', node: null, action: 'scale_out', params: { nodeId: 'n9', capacity: '1000' } },
      ],
      8: (o) => [
        {
          kind: 'shard',
          ...base,
          commandId: 'rep',
          table: 't',
          partition: o.state.partitions[0]!.id,
          sourceNode: 'n1',
          targetNode: 'n9',
          action: 'replicate',
        },
      ],
    },
    seen,
    1,
  );
  const m = await simulate(w, pol, {
    capacity: 1000,
    partitionsPerTable: 2,
    provisioningMs: 5 * 60_000,
    throttleBytesPerSec: GiB / 60,
    keepTimeline: true,
  });
  assert.equal(seen.find((r) => r.commandId === 'so' && r.status === 'SUCCEEDED')!.ts, 6 * 60_000);
  assert.equal(m.nodeMinutes, 1 + 2 * 19);
  // after the replica (done at step 9): partition 0's 400 reads split 200/200: n1 600, n9 200
  assert.ok(Math.abs(m.timeline![12]!.maxUtil - 0.6) < 1e-9);
});

test('commands that do not fit the cluster are rejected or fail, never applied', async () => {
  const w = workload(5, 2, () => 10);
  const seen: CommandResult[] = [];
  const pol = scripted(
    'bad',
    {
      1: () => [
        { kind: 'shard', ...base, commandId: 'x', table: 't', partition: 'nope', sourceNode: 'n1', targetNode: 'n2', action: 'move' },
      ],
      2: (o) => [{ kind: 'resource', ...base, commandId: 'y', node: o.state.nodes[0]!.id, action: 'scale_in' }],
    },
    seen,
    2,
  );
  const m = await simulate(w, pol, { capacity: 100, partitionsPerTable: 2 });
  assert.equal(seen.find((r) => r.commandId === 'x' && r.status === 'FAILED')!.reason, 'unknown partition nope');
  assert.match(seen.find((r) => r.commandId === 'y' && r.status === 'FAILED')!.reason!, /still holds/);
  assert.equal(m.failed, 2);
});

test('reactive: splits a range above the QPS threshold at its load-weighted median', async () => {
  const w = workload(10, 8, (_t, u) => (u < 4 ? 300 : 10));
  const seen: CommandResult[] = [];
  const r = reactivePolicy();
  const spy: Policy = {
    name: 'reactive',
    initialNodes: () => 2,
    act: (o) => {
      const c = r.act(o);
      seen.push(...o.results);
      return c;
    },
  };
  await simulate(w, spy, { capacity: 2000, partitionsPerTable: 1 });
  const split = seen.find((x) => x.action === 'split' && x.status === 'SUCCEEDED');
  assert.ok(split, 'a split happened');
});

test('trace CSV: both formats parse; generators are deterministic; round trip keeps the load', async () => {
  const w = parseTrace('ts,table,key,reads,writes\n0,t,0,5,1\n0,t,9,1,0\n60000,t,3,2,2\n');
  assert.equal(w.steps, 2);
  assert.equal(w.stepMs, 60_000);
  assert.equal(w.tables[0]!.units, 10);
  assert.equal(w.reads[0]![0], 5);
  assert.equal(w.writes[0]![10 + 3], 2);
  const s = parseTrace('ts,series,value\n0,a,3\n1000,a,4\n1000,b,1\n');
  assert.equal(s.tables.length, 2);
  assert.equal(s.reads[0]![1], 4);
  assert.throws(() => parseTrace('a,b\n1,2\n'), /header/);
  assert.throws(() => parseTrace('ts,series,value\n0,a,x\n'), /line 2/);
  const a = SUITE['flash-crowd']!({ seed: 7 }),
    b = SUITE['flash-crowd']!({ seed: 7 });
  assert.deepEqual(a.reads[0]!.slice(0, 500), b.reads[0]!.slice(0, 500));
  const small = workload(3, 4, (t, u) => t + u + 1, 0.5);
  const back = parseTrace(toTraceCsv(small));
  assert.ok(Math.abs(back.reads[0]!.reduce((x, y) => x + y, 0) - small.reads[0]!.reduce((x, y) => x + y, 0)) < 0.01);
});

test('a rekey that hashes the key copies the table in parallel streams, claims its shards, then spreads its load evenly', async () => {
  // all load on unit 3 of 4: one node (n1 or n2) carries all of it until the key is hashed
  const w = workload(20, 4, (_t, u) => (u === 3 ? 1600 : 0));
  const seen: CommandResult[] = [];
  const rekey: AnyCommand = {
    kind: 'partition',
    ...base,
    commandId: 'rk',
    table: 't',
    partition: null,
    action: 'rekey',
    params: { keyColumns: 'id', keyHash: 'true' },
  };
  const moveHot = (o: Observation): AnyCommand[] => {
    const p = o.state.partitions.find((x) => x.lo === 3)!;
    const to = o.state.nodes.find((n) => n.id !== p.node)!.id;
    return [
      { kind: 'shard', ...base, commandId: 'mv', table: 't', partition: p.id, sourceNode: p.node, targetNode: to, action: 'move' },
      {
        kind: 'shard',
        ...base,
        commandId: 'after',
        table: 't',
        partition: p.id,
        sourceNode: p.node,
        targetNode: to,
        action: 'move',
        params: { dependsOn: 'mv' },
      },
    ];
  };
  // 4 partitions of 1 GiB; throttle 1 GiB per 2 minutes, 2 streams → 4 GiB in 4 steps
  const m = await simulate(w, scripted('hasher', { 2: () => [rekey], 3: moveHot }, seen, 2), {
    capacity: 1000,
    partitionsPerTable: 4,
    throttleBytesPerSec: GiB / 120,
    rekeyStreams: 2,
    migrationOverhead: 0,
    keepTimeline: true,
  });
  const done = seen.find((r) => r.commandId === 'rk' && r.status === 'SUCCEEDED')!;
  assert.equal(done.durationMs, 4 * 60_000);
  assert.equal(m.bytesMoved, 4 * GiB);
  // while it runs the table's shards are claimed; what depends on a refused command fails
  assert.match(seen.find((r) => r.commandId === 'mv' && r.status === 'REJECTED')!.reason!, /change in progress/);
  assert.match(seen.find((r) => r.commandId === 'after' && r.status === 'FAILED')!.reason!, /depends on failed/);
  // before: 1600 on one node; after (step 6 on): 400 per partition, 800 per node
  assert.ok(Math.abs(m.timeline![1]!.maxUtil - 1.6) < 1e-9);
  assert.ok(Math.abs(m.timeline![7]!.maxUtil - 0.8) < 1e-9);
  assert.equal(m.violationMinutes, 6);
});

/** A scale_out of n9 and a move of every partition to it, each waiting on it; `deadlineOf(i)` for the i-th move. */
function fillNewNode(o: Observation, deadlineOf: (i: number) => number = () => Number.MAX_SAFE_INTEGER): AnyCommand[] {
  return [
    {
      kind: 'resource',
      ...base,
      deadline: Number.MAX_SAFE_INTEGER,
      commandId: 'so',
      node: null,
      action: 'scale_out',
      params: { nodeId: 'n9', capacity: '1000' },
    },
    ...o.state.partitions.map(
      (p, i): AnyCommand => ({
        kind: 'shard',
        ...base,
        deadline: deadlineOf(i),
        commandId: `mv${i}`,
        table: 't',
        partition: p.id,
        sourceNode: p.node,
        targetNode: 'n9',
        action: 'move',
        params: { dependsOn: 'so' },
      }),
    ),
  ];
}

/** Partitions of 1 GiB on 2 nodes; a move takes 2 steps, provisioning 2 steps. */
const fillRun = (units: number, maxConcurrentMoves: number) => ({
  capacity: 1000,
  partitionsPerTable: units,
  throttleBytesPerSec: GiB / 120,
  provisioningMs: 120_000,
  migrationOverhead: 0,
  maxConcurrentMoves,
});

test('moves waiting on a scale-out start within the move limits when it finishes, the rest as slots free', async () => {
  const w = workload(16, 6, () => 100);
  const run = async (maxConcurrentMoves: number) => {
    const seen: CommandResult[] = [];
    await simulate(w, scripted('filler', { 1: (o) => fillNewNode(o) }, seen, 2), fillRun(6, maxConcurrentMoves));
    const done = seen.filter((r) => r.action === 'move' && r.status === 'SUCCEEDED').map((r) => r.ts);
    assert.equal(done.length, 6);
    return [...new Set(done)].sort((a, b) => a - b).map((ts) => done.filter((x) => x === ts).length);
  };
  // four at once (the decide stage's default limit), the other two when those finish
  assert.deepEqual(await run(4), [4, 2]);
  assert.deepEqual(await run(6), [6]);
});

test('a move waiting for a slot past its deadline fails instead of starting late', async () => {
  const w = workload(16, 2, () => 100);
  const seen: CommandResult[] = [];
  // the second move's deadline passes while the first holds the one slot
  const fill = (o: Observation) => fillNewNode(o, (i) => (i === 0 ? Number.MAX_SAFE_INTEGER : o.now + 150_000));
  await simulate(w, scripted('filler', { 1: fill }, seen, 2), fillRun(2, 1));
  assert.ok(seen.some((r) => r.commandId === 'mv0' && r.status === 'SUCCEEDED'));
  assert.match(
    seen.find((r) => r.commandId === 'mv1' && r.status === 'FAILED')!.reason!,
    /deadline passed while it waited for a move slot/,
  );
});

test('a move onto a node still provisioning fails unless it waits on the scale-out, as the executors refuse it', async () => {
  const w = workload(16, 2, () => 100);
  const seen: CommandResult[] = [];
  const fill = (o: Observation) => {
    const [scaleOut, waits, eager] = fillNewNode(o);
    return [scaleOut!, waits!, { ...eager!, params: {} }];
  };
  await simulate(w, scripted('filler', { 1: fill }, seen, 2), fillRun(2, 4));
  assert.ok(
    seen.some((r) => r.commandId === 'mv0' && r.status === 'SUCCEEDED'),
    'the move that waits on the scale-out runs',
  );
  assert.equal(seen.find((r) => r.commandId === 'mv1' && r.status === 'FAILED')?.reason, 'node n9 is provisioning');
});
