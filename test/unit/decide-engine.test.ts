import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOW, STEP, fc, flat, twoNodes } from './decide-helpers.js';
import { decide, recentFromCommand } from '../../processors/decide/index.js';

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
