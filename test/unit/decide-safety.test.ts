import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOW, twoNodes } from './decide-helpers.js';
import { type Candidate, type PlannedOp, applySafety, buildState, decideConfig, requiresApproval } from '../../processors/decide/index.js';

function op(action: PlannedOp['action'], target: string, extra: Partial<PlannedOp> = {}): PlannedOp {
  return {
    kind: action === 'scale_in' || action === 'scale_out' ? 'resource' : action === 'split' || action === 'merge' ? 'partition' : 'shard',
    action,
    store: 'pg',
    storeKind: 'postgres',
    table: 't',
    partition: target,
    sourceNode: 'n1',
    targetNode: 'n2',
    node: null,
    params: {},
    bytes: action === 'move' ? 1024 : 0,
    durationMs: 60_000,
    startStep: 0,
    finishStep: 1,
    dependsOn: [],
    target,
    ...extra,
  };
}
const cand = (...ops: PlannedOp[]): Candidate => ({ action: ops[0]!.action, ops, explanation: 'x', run() {} });
const cfg = decideConfig({
  safety: {
    cooldownMs: 600_000,
    flapWindowMs: 1_800_000,
    moveBackMs: 900_000,
    maxConcurrentMoves: 2,
    maxBytesPerMinute: 1e15,
    approval: { manual_store: 'manual' },
    defaultApproval: 'auto',
    maxAutoBytes: 1e12,
  },
});

test('cooldown: no second command on the same target within cooldownMs', () => {
  const state = buildState(
    twoNodes({ recent: [{ commandId: 'c1', action: 'move', target: 'p0', ts: NOW - 60_000, sourceNode: 'n2', targetNode: 'n1' }] }),
  );
  const v = applySafety([cand(op('move', 'p0', { sourceNode: 'n1', targetNode: 'n3' })), cand(op('move', 'p1'))], state, NOW, cfg);
  assert.equal(v.allowed.length, 1);
  assert.equal(v.allowed[0]!.ops[0]!.target, 'p1');
  assert.match(v.blocked[0]!.reason, /cooldown/);
  // after the cooldown it passes
  assert.equal(applySafety([cand(op('move', 'p0', { targetNode: 'n3' }))], state, NOW + 600_000, cfg).allowed.length, 1);
});

test('flap guard: merge right after a split of the same range, scale-in of the node just added, move back', () => {
  const state = buildState(
    twoNodes({
      recent: [
        { commandId: 's', action: 'split', target: 'p9', ts: NOW - 700_000, related: ['a', 'b'] },
        { commandId: 'o', action: 'scale_out', target: 'n9', ts: NOW - 700_000 },
        { commandId: 'm', action: 'move', target: 'p2', ts: NOW - 700_000, sourceNode: 'n2', targetNode: 'n1' },
      ],
    }),
  );
  const v = applySafety(
    [
      cand(op('merge', 'a', { params: { with: 'b', mergedId: 'p9' } })),
      cand(op('scale_in', 'n9', { node: 'n9', partition: null })),
      cand(op('move', 'p2', { sourceNode: 'n1', targetNode: 'n2' })),
      cand(op('split', 'p5', { params: { leftId: 'x', rightId: 'y' } })),
      // removing another (cold) node replaces capacity: not a flap
      cand(op('scale_in', 'n2', { node: 'n2', partition: null })),
    ],
    state,
    NOW,
    cfg,
  );
  assert.deepEqual(
    v.allowed.map((c) => c.action),
    ['split', 'scale_in'],
  );
  assert.equal(v.allowed[1]!.ops[0]!.target, 'n2');
  assert.equal(v.blocked.length, 3);
  for (const b of v.blocked) assert.match(b.reason, /flap guard/);
  // after the window the node added can go
  assert.equal(applySafety([cand(op('scale_in', 'n9', { node: 'n9', partition: null }))], state, NOW + 1_200_000, cfg).allowed.length, 1);
  // adding capacity is never blocked by the flap guard
  const state2 = buildState(twoNodes({ recent: [{ commandId: 'i', action: 'scale_in', target: 'n9', ts: NOW - 700_000 }] }));
  assert.equal(applySafety([cand(op('scale_out', 'n10', { node: 'n10', partition: null }))], state2, NOW, cfg).allowed.length, 1);
});

test('concurrency: running moves plus new ones stay within maxConcurrentMoves; waiting ones do not count', () => {
  const state = buildState(
    twoNodes({
      inFlight: [
        { commandId: 'r', action: 'move', partition: 'p3', bytes: 1, startedAt: NOW, expectedEnd: NOW + 1 },
        { commandId: 'w', action: 'move', partition: 'p2', bytes: 1, startedAt: NOW, expectedEnd: NOW + 1, waiting: true },
      ],
    }),
  );
  const v = applySafety([cand(op('move', 'p0')), cand(op('move', 'p1'))], state, NOW, cfg);
  assert.equal(v.allowed.length, 1);
  assert.match(v.blocked[0]!.reason, /concurrency/);
});

test('a candidate is blocked as a whole', () => {
  const state = buildState(twoNodes({ recent: [{ commandId: 'c', action: 'move', target: 'p1', ts: NOW - 1000 }] }));
  const v = applySafety([cand(op('split', 'p0'), op('move', 'p1', { dependsOn: [0] }))], state, NOW, cfg);
  assert.equal(v.allowed.length, 0);
});

test('approval: manual stores, recommendations and large moves need approval', () => {
  assert.equal(requiresApproval({ action: 'move', store: 'pg', bytes: 10 }, cfg), false);
  assert.equal(requiresApproval({ action: 'move', store: 'manual_store', bytes: 10 }, cfg), true);
  assert.equal(requiresApproval({ action: 'rekey', store: 'pg', bytes: 0 }, cfg), true);
  assert.equal(requiresApproval({ action: 'move', store: 'pg', bytes: 2e12 }, cfg), true);
});
