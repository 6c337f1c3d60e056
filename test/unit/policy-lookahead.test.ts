import { test } from 'node:test';
import { handWorkload as workload } from './sim-helpers.js';
import assert from 'node:assert/strict';
import { type Policy, simulate } from '../../bench/sim/simulator.js';
import type { Workload } from '../../bench/sim/workload.js';
import { predictivePolicy } from '../../bench/sim/predictive.js';
import { staticPolicy } from '../../bench/sim/policies.js';
import { StateError } from '../../lib/errors.js';

const w = workload(30, 4, (t, u) => 100 + t + u);

test('a policy reads the past; reading the current or a later step throws', async () => {
  const seen: number[] = [];
  const peeker: Policy = {
    name: 'predictive',
    act: (o) => {
      if (o.step > 0) seen.push(o.past.load(0, o.step - 1, 1));
      assert.equal(o.ahead, undefined, 'no whole trace for a policy that does not declare look-ahead');
      if (o.step === 10) o.past.load(0, o.step, 1);
      return [];
    },
  };
  await assert.rejects(
    () => simulate(w, peeker, { capacity: 1000, partitionsPerTable: 4 }),
    (e: unknown) => e instanceof StateError && /step 10 is not in the past/.test(e.message),
  );
  assert.deepEqual(seen.slice(0, 3), [101, 102, 103]);
});

test('a policy that does not declare look-ahead cannot size itself from the trace', async () => {
  let got: Workload | null | undefined;
  const sizer: Policy = {
    name: 'predictive',
    initialNodes: (_cfg, ahead) => {
      got = ahead;
      return 2;
    },
    act: () => [],
  };
  await simulate(w, sizer, { capacity: 1000, partitionsPerTable: 4 });
  assert.equal(got, null);
  // static declares it and gets the whole trace
  assert.equal(staticPolicy().readsAhead, true);
  const m = await simulate(w, staticPolicy(), { capacity: 100, partitionsPerTable: 4 });
  assert.equal(m.maxNodes, Math.ceil((4 * 129 + 6) / 85));
});

test('the predictive policy is never handed the future; the clairvoyant one is, and needs it', async () => {
  const pred = predictivePolicy();
  assert.equal(pred.readsAhead, undefined);
  let handed = false;
  await simulate(
    w,
    {
      ...pred,
      act: (o) => {
        handed ||= o.ahead !== undefined;
        return pred.act(o);
      },
    },
    { capacity: 1000, partitionsPerTable: 4 },
  );
  assert.equal(handed, false);
  const clair = predictivePolicy({ clairvoyant: true });
  assert.equal(clair.readsAhead, true);
  // stripped of its declaration, the clairvoyant policy gets no future and says so
  const { readsAhead: _, ...stripped } = clair;
  await assert.rejects(
    () => simulate(w, stripped, { capacity: 1000, partitionsPerTable: 4 }),
    /clairvoyant policy was not given the trace/,
  );
});
