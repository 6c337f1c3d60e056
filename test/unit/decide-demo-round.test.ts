/**
 * One decide round on the demo's shape (three PostgreSQL nodes, `orders` in four key ranges,
 * node0 forecast far over capacity) must plan at least one command: a round that plans nothing
 * here is the regression a live run shows as an idle decide stage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../processors/decide/engine.js';
import { bucketsFor } from '../../processors/decide/series.js';
import { PG_STORE, stateFromCatalog } from '../../processors/decide/postgres/state.js';
import { toStoreCommands } from '../../processors/decide/postgres/commands.js';
import { NOW, demoView, fc } from './decide-helpers.js';

const STEP = 2_000;
const BOUNDS = [25_000, 50_000, 75_000];
const CAPACITY = 60;

function demoState() {
  const view = demoView(BOUNDS, CAPACITY);
  return stateFromCatalog(view, { orders: { column: 'id', bounds: BOUNDS } }, PG_STORE, { capacity: CAPACITY, now: NOW });
}

/** A forecast in the decide stage's shape: 2 s steps, six ahead. */
function forecast(bucket: number, perWindow: number) {
  const f = fc(`${PG_STORE}|orders|k${bucket}`, Array<number>(6).fill(perWindow), 0.2);
  return { ...f, stepMs: STEP, points: f.points.map((p, h) => ({ ...p, ts: NOW + (h + 1) * STEP })) };
}

test('demo-shaped round: node0 forecast at several times its capacity gets at least one command', () => {
  const state = demoState();
  assert.equal(bucketsFor(PG_STORE, 'orders', { column: 'id', bounds: BOUNDS }).length, 4);
  // k0 (on node0) at 400 queries a window against a capacity of 60; the others light
  const fs = [forecast(0, 400), forecast(1, 10), forecast(2, 10), forecast(3, 10)];
  const r = decide(state, fs, [], NOW, {});
  assert.ok(r.commands.length >= 1, r.explanations.join('\n'));
  const cmds = toStoreCommands(r.commands, state);
  assert.ok(
    cmds.some((c) => c.action === 'move' || c.action === 'split' || c.action === 'scale_out'),
    r.explanations.join('\n'),
  );
});

test('a candidate whose command does not fit the command contract is listed as a misfit, not dropped silently', () => {
  const state = demoState();
  // a node name the contract refuses (upper case): the move onto it cannot be issued
  state.nodes = state.nodes.map((n) => (n.id === 'node1' ? { ...n, id: 'Node1' } : n));
  state.partitions = state.partitions.map((p) => (p.node === 'node1' ? { ...p, node: 'Node1' } : p));
  const fs = [forecast(0, 400), forecast(1, 10), forecast(2, 10), forecast(3, 10)];
  const r = decide(state, fs, [], NOW, { actions: ['move'] });
  assert.ok(r.misfits.length >= 1, r.explanations.join('\n'));
  assert.match(r.misfits[0]!.reason, /targetNode/);
  assert.ok(r.blocked.some((b) => b.includes(r.misfits[0]!.reason)));
  assert.ok(r.commands.every((c) => c.kind !== 'shard' || c.targetNode !== 'Node1'));
});
