import { test } from 'node:test';
import { handWorkload as workload } from './sim-helpers.js';
import assert from 'node:assert/strict';
import type { AnyCommand } from '../../schemas/types.js';
import { type Policy, type SimConfig, initialState, simulate } from '../../bench/sim/simulator.js';
import { DEFAULT_SIM } from '../../bench/sim/simulator.js';
import { hpaDesired, reactivePolicy } from '../../bench/sim/reactive.js';

/** The reactive policy on `nodes` starting nodes, recording the commands of each step. */
function recorded(nodes: number): { policy: Policy; issued: Map<number, AnyCommand[]> } {
  const r = reactivePolicy();
  const issued = new Map<number, AnyCommand[]>();
  return {
    issued,
    policy: {
      name: 'reactive',
      initialNodes: () => nodes,
      act: (o) => {
        const c = r.act(o);
        issued.set(o.step, c);
        return c;
      },
    },
  };
}

test('HPA rule: desired = ceil(nodes × utilisation / target), nothing within the tolerance', async () => {
  assert.equal(hpaDesired(2, 1.75, 0.7, 0.1), 5);
  assert.equal(hpaDesired(4, 0.74, 0.7, 0.1), 4, 'within ±10% of the target: no change');
  assert.equal(hpaDesired(10, 0.2, 0.7, 0.1), 3);
});

test('reactive: a shortfall of k nodes adds k nodes at once', async () => {
  // 2 nodes of 1000 carrying 3500: ceil(2 × 1.75 / 0.7) = 5 nodes, so 3 scale-outs in step 1
  const w = workload(4, 8, () => 3500 / 8);
  const { policy, issued } = recorded(2);
  await simulate(w, policy, { capacity: 1000, partitionsPerTable: 8 });
  const outs = issued.get(1)!.filter((c) => c.action === 'scale_out');
  assert.equal(outs.length, 3);
  assert.equal(new Set(outs.map((c) => c.commandId)).size, 3);
  assert.equal(issued.get(2)!.filter((c) => c.action === 'scale_out').length, 0, 'the nodes in provisioning count');
});

test('reactive: two hot nodes shed load in the same step', async () => {
  const cfg: SimConfig = { ...DEFAULT_SIM, capacity: 1000, partitionsPerTable: 8 };
  const base = workload(1, 8, () => 0);
  const st = initialState(base, cfg, 4);
  const hotUnits = new Set(st.partitions.filter((p) => p.node === 'n1' || p.node === 'n2').map((p) => p.lo!));
  // n1 and n2 each carry 480 (two ranges of 240, under the split threshold), n3 and n4 40
  const w = workload(4, 8, (_t, u) => (hotUnits.has(u) ? 240 : 20));
  const { policy, issued } = recorded(4);
  await simulate(w, policy, { capacity: 1000, partitionsPerTable: 8 });
  const moves = issued.get(1)!.filter((c) => c.kind === 'shard' && c.action === 'move');
  const sources = new Set(moves.map((c) => (c.kind === 'shard' ? c.sourceNode : '')));
  assert.deepEqual([...sources].sort(), ['n1', 'n2']);
  assert.ok(moves.length <= 4, 'within the move budget');
});

test('reactive: never more data moves in flight than the move budget', async () => {
  // one node holds everything at first; the others are empty
  const w = workload(30, 16, () => 100);
  const r = reactivePolicy({ maxConcurrentMoves: 2 });
  let most = 0;
  await simulate(
    w,
    {
      name: 'reactive',
      initialNodes: () => 4,
      act: (o) => {
        const c = r.act(o);
        const starting = c.filter((x) => x.action === 'move').length;
        const running = o.state.inFlight.filter((f) => f.action === 'move').length;
        most = Math.max(most, starting + running);
        return c;
      },
    },
    { capacity: 1000, partitionsPerTable: 16, throttleBytesPerSec: 1024 ** 3 / 600 },
  );
  assert.ok(most <= 2, `at most 2 moves at once, saw ${most}`);
});

test('reactive: scale-down waits for the stabilisation window, then drains one node before removing it', async () => {
  // 5 nodes at 70% until step 5, then 6%: recommendations fall to 2 from step 6; the 5-minute
  // window holds the earlier 5 until step 10
  const w = workload(30, 10, (t) => (t < 5 ? 350 : 30));
  const { policy, issued } = recorded(5);
  await simulate(w, policy, { capacity: 1000, partitionsPerTable: 10, throttleBytesPerSec: 1024 ** 3 / 60 });
  const drainAt = [...issued].filter(([, cs]) => cs.some((c) => c.explanation.startsWith('drain'))).map(([s]) => s);
  assert.equal(drainAt[0], 10);
  const scaleIn = [...issued].filter(([, cs]) => cs.some((c) => c.action === 'scale_in')).map(([s]) => s);
  assert.ok(scaleIn.length > 0 && scaleIn[0]! > 10, `scale_in after the drain, at ${scaleIn[0]}`);
});
