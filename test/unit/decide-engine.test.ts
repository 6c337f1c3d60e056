import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOW, STEP, fc, flat, twelvePartitions, twoNodes } from './decide-helpers.js';
import type { AnyCommand } from '../../schemas/types.js';
import { buildState, decide, recentFromCommand } from '../../processors/decide/index.js';
import { awaitCreators, dependsOn } from '../../processors/decide/dependencies.js';

const rising = Array.from({ length: 30 }, (_, h) => 200 + h * 15); // crosses 850 on n1 around step 9

test('rising load on a range: a command issued before the load arrives, with evidence and a deadline', () => {
  const f = [fc('t/p0', rising, 0.1), fc('t/p1', flat(250)), fc('t/p2', flat(250)), fc('t/p3', flat(100))];
  const r = decide(twoNodes(), f, [], NOW, {});
  assert.ok(r.commands.length >= 1, r.explanations.join('\n'));
  const c = r.commands[0]!;
  assert.equal(c.kind, 'shard');
  assert.equal(c.action, 'move');
  assert.ok(c.deadline > NOW, 'deadline is when the load is forecast to arrive');
  assert.ok(c.issuedAt + c.estimatedDurationMs < c.deadline, 'the move finishes before the load');
  assert.equal(c.evidence.seriesId, 't/p0');
  assert.ok(c.evidence.forecastUpper >= c.evidence.forecastPeak && c.evidence.forecastPeak >= c.evidence.forecastLower);
  assert.ok(c.expectedBenefit > c.expectedCost);
  assert.equal(c.requiresApproval, false);
  assert.ok(!c.explanation.includes('\n') && c.explanation.length > 10);
  assert.match(c.commandId, /^cmd-move-[0-9a-f]{16}$/);
});

test('deterministic: same inputs in the same window give the same command ids', () => {
  const f = [fc('t/p0', rising, 0.1), fc('t/p1', flat(250)), fc('t/p2', flat(250))];
  const a = decide(twoNodes(), f, [], NOW, {});
  const b = decide(twoNodes(), f, [], NOW + 1000, {});
  assert.deepEqual(
    a.commands.map((c) => c.commandId),
    b.commands.map((c) => c.commandId),
  );
});

test('load far in the future is deferred until its lead time is due', () => {
  const late = Array.from({ length: 30 }, (_, h) => (h < 25 ? 200 : 900));
  const f = [fc('t/p0', late), fc('t/p1', flat(250)), fc('t/p2', flat(250))];
  const r = decide(twoNodes(), f, [], NOW, { decideEveryMs: 2 * STEP });
  assert.equal(r.commands.length, 0);
  assert.ok(r.deferred.length >= 1, r.explanations.join('\n'));
});

test('manual approval mode per store', () => {
  const f = [fc('t/p0', rising, 0.1), fc('t/p1', flat(250)), fc('t/p2', flat(250))];
  const r = decide(twoNodes(), f, [], NOW, {
    safety: {
      cooldownMs: 600_000,
      flapWindowMs: 1_800_000,
      moveBackMs: 900_000,
      maxConcurrentMoves: 4,
      maxBytesPerMinute: 1e12,
      approval: { pg: 'manual' },
      defaultApproval: 'auto',
      maxAutoBytes: 1e15,
    },
  });
  assert.ok(r.commands.length > 0 && r.commands.every((c) => c.requiresApproval));
});

test('nothing to do: no commands and a one-line reason', () => {
  const r = decide(twoNodes(), [fc('t/p0', flat(100))], [], NOW, { actions: ['move', 'split', 'scale_out'] });
  assert.equal(r.commands.length, 0);
  assert.match(r.explanations[0]!, /^no action/);
});

test('the next tick, told what the last one issued, does not repeat it (cooldown)', () => {
  const f = [fc('t/p0', rising, 0.1), fc('t/p1', flat(250)), fc('t/p2', flat(250))];
  const first = decide(twoNodes(), f, [], NOW, {});
  assert.ok(first.commands.length > 0);
  const second = decide(twoNodes({ recent: first.commands.map(recentFromCommand) }), f, [], NOW + 300_000, {});
  const firstTargets = new Set(first.commands.map((c) => (c.kind === 'shard' ? c.partition : null)));
  for (const c of second.commands) if (c.kind === 'shard') assert.ok(!firstTargets.has(c.partition));
});

/** Twelve 1 GiB partitions at 200 each, alternating over n1 and n2: both nodes at 120 %. */
function twelveHot() {
  const partitions = twelvePartitions();
  return { input: twoNodes({ partitions }), forecasts: partitions.map((p) => fc(`t/${p.id}`, flat(200))) };
}

test('a fill move planned to wait for a data-move slot keeps a deadline after its own planned finish', () => {
  const { input, forecasts } = twelveHot();
  const r = decide(input, forecasts, [], NOW, {
    risk: 0,
    provisioningMs: 300_000,
    actions: ['scale_out', 'move'],
    safety: { maxConcurrentMoves: 1 },
  });
  const scaleOut = r.commands.find((c) => c.action === 'scale_out');
  assert.ok(scaleOut, r.explanations.join('\n'));
  // the fill: the scale-out candidate's moves, one after another through the one slot
  const candidate = scaleOut.explanation.replace(/ \[1\/\d+: scale_out\]$/, '');
  const fill = r.commands.filter((c) => c.action === 'move' && c.explanation.startsWith(`${candidate} [`));
  assert.ok(fill.length >= 2, r.explanations.join('\n'));
  let finish = NOW + 300_000; // the node is up
  for (const m of fill) {
    finish += Math.ceil(m.estimatedDurationMs / STEP) * STEP; // planned in whole steps
    assert.ok(m.deadline >= finish, `${m.commandId}: deadline ${m.deadline - NOW} ms before its planned finish ${finish - NOW} ms`);
  }
  assert.ok(fill.at(-1)!.deadline > scaleOut.deadline, "the last queued move outlives the scale-out's deadline");
});

test('a move onto the node a scale-out adds waits for that scale-out, issued in the same round or in flight', () => {
  const { input, forecasts } = twelveHot();
  const cfg = { risk: 0, provisioningMs: 300_000, actions: ['scale_out', 'move'] as ('scale_out' | 'move')[] };
  const r = decide(input, forecasts, [], NOW, cfg);
  const scaleOut = r.commands.find((c) => c.action === 'scale_out')!;
  const onto = r.commands.filter((c) => c.kind === 'shard' && c.targetNode === scaleOut.params.nodeId);
  assert.ok(onto.length >= 2, r.explanations.join('\n'));
  for (const m of onto) assert.ok(dependsOn(m).includes(scaleOut.commandId), `${m.explanation} does not wait for the node`);
  // next round, the scale-out in flight and its node provisioning: new moves onto it wait for it too
  const nodeId = scaleOut.params.nodeId!;
  const next = decide(
    {
      ...input,
      nodes: [...input.nodes, { id: nodeId, store: 'pg', capacity: 1000, status: 'provisioning', readyAt: NOW + 300_000 }],
      inFlight: [
        { commandId: scaleOut.commandId, action: 'scale_out', node: nodeId, bytes: 0, startedAt: NOW, expectedEnd: NOW + 300_000 },
      ],
    },
    forecasts,
    [],
    NOW + STEP,
    cfg,
  );
  const later = next.commands.filter((c) => c.kind === 'shard' && c.targetNode === nodeId);
  assert.ok(later.length >= 1, next.explanations.join('\n'));
  for (const m of later) assert.ok(dependsOn(m).includes(scaleOut.commandId), `${m.explanation} does not wait for the node`);
});

test('a command on a partition another command of the round creates waits for it; a copy onto no node is left out', () => {
  const { input } = twelveHot();
  const state = buildState(input);
  const cmd = (commandId: string, action: string, partition: string, targetNode: string | null, params: Record<string, string> = {}) =>
    ({ commandId, kind: action === 'split' ? 'partition' : 'shard', action, partition, targetNode, params }) as unknown as AnyCommand;
  const split = cmd('s1', 'split', 'p0', null, { splitAt: '50', leftId: 't[0,50)', rightId: 't[50,100)' });
  const child = cmd('m1', 'move', 't[50,100)', 'n2');
  const ghost = cmd('m2', 'move', 'p1', 'ghost');
  const plain = cmd('m3', 'move', 'p2', 'n2');
  const r = awaitCreators([split, child, ghost, plain], state);
  assert.deepEqual(
    r.commands.map((c) => [c.commandId, c.params.dependsOn ?? '']),
    [
      ['s1', ''],
      ['m1', 's1'],
      ['m3', ''],
    ],
  );
  assert.deepEqual(
    r.orphans.map((o) => [o.command.commandId, o.node]),
    [['m2', 'ghost']],
  );
  assert.equal(r.commands[2], plain, 'a move needing nothing is untouched');
});
