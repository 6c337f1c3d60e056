import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPolicyEval } from '../../bench/policyEval.js';
import { InputError } from '../../lib/errors.js';

/** A trace of `steps` rows per key at a `stepMin`-minute step, ISO times, quoted table names. */
function trace(steps: number, stepMin: number): string {
  const lines = ['ts,table,key,reads,writes'];
  const t0 = Date.UTC(2025, 2, 1);
  for (let t = 0; t < steps; t++)
    for (let k = 0; k < 8; k++) {
      const ts = new Date(t0 + t * stepMin * 60_000).toISOString();
      lines.push(`${ts},"orders",${k * 100},${200 + 10 * t + (k === 3 && t > steps / 2 ? 900 : 0)},${20}`);
    }
  return `${lines.join('\n')}\n`;
}

test('policy-eval: ISO times at a 5-minute step, the four policies and the bound', async () => {
  const { result, text } = await runPolicyEval({ trace: trace(80, 5) });
  assert.equal(result.stepMs, 300_000);
  assert.equal(result.steps, 80);
  assert.deepEqual(
    result.rows.map((r) => r.policy),
    ['static', 'reactive', 'predictive', 'clairvoyant', 'bound'],
  );
  assert.match(text, /^bound /m);
  assert.match(text, /^clairvoyant /m);
  const bound = result.rows.find((r) => r.policy === 'bound')!;
  for (const r of result.rows) assert.ok(r.nodeMinutes >= bound.nodeMinutes && r.violationMinutes >= bound.violationMinutes, r.policy);
});

test('policy-eval: --nodes sets the starting nodes and leaves capacity alone; --capacity sets it', async () => {
  const csv = trace(40, 1);
  const two = (await runPolicyEval({ trace: csv, nodes: 2 })).result;
  const eight = (await runPolicyEval({ trace: csv, nodes: 8 })).result;
  assert.equal(two.capacity, eight.capacity);
  assert.equal(two.initialNodes, 2);
  assert.equal(eight.initialNodes, 8);
  const set = (await runPolicyEval({ trace: csv, nodes: 2, capacity: 5000 })).result;
  assert.equal(set.capacity, 5000);
  // the peak step carries 8 × (200 + 390 + 20) + 900 = 5780: two nodes of 5000
  assert.equal(set.rows.find((r) => r.policy === 'bound')!.maxNodes, 2, 'the bound uses the given capacity');
});

test('policy-eval: times off the step grid are an InputError', async () => {
  const bad = 'ts,table,key,reads,writes\n2025-01-01T00:00:00Z,t,0,1,0\n2025-01-01T00:01:00Z,t,0,1,0\n2025-01-01T00:02:30Z,t,0,1,0\n';
  await assert.rejects(
    () => runPolicyEval({ trace: bad }),
    (e) => e instanceof InputError && /not on a regular step/.test(e.message),
  );
});

test('shardcast policy-eval --capacity --json on a file; a bad --capacity exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-eval-'));
  const file = join(dir, 'w.csv');
  writeFileSync(file, trace(30, 1));
  const run = (...args: string[]) => spawnSync('node', ['bin/shardcast.js', 'policy-eval', '--trace', file, ...args], { encoding: 'utf8' });
  const ok = run('--capacity', '4000', '--nodes', '3', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  const out = JSON.parse(ok.stdout) as { capacity: number; initialNodes: number; rows: { policy: string }[] };
  assert.equal(out.capacity, 4000);
  assert.equal(out.initialNodes, 3);
  assert.deepEqual(
    out.rows.map((r) => r.policy),
    ['static', 'reactive', 'predictive', 'clairvoyant', 'bound'],
  );
  for (const v of ['0', 'abc']) {
    const bad = run('--capacity', v);
    assert.equal(bad.status, 2, v);
    assert.match(bad.stderr, /--capacity must be a positive number/);
  }
});
