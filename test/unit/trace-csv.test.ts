import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../lib/errors.js';
import { parseTrace, traceTime } from '../../bench/sim/trace.js';

const lineError = (line: number, about: RegExp) => (err: unknown) =>
  err instanceof InputError && err.exitCode === 2 && new RegExp(`^trace line ${line}: `).test(err.message) && about.test(err.message);

test('ISO-8601 timestamps read the same as epoch milliseconds', () => {
  const epoch = parseTrace('ts,table,key,reads,writes\n1704067200000,t,0,5,1\n1704067260000,t,9,1,0\n');
  const iso = parseTrace('ts,table,key,reads,writes\n2024-01-01T00:00:00Z,t,0,5,1\n2024-01-01T00:01:00.000+00:00,t,9,1,0\n');
  assert.equal(iso.startTs, epoch.startTs);
  assert.equal(iso.stepMs, 60_000);
  assert.deepEqual([...iso.reads[0]!], [...epoch.reads[0]!]);
  // a time without a zone is UTC, not the machine's local time
  assert.equal(traceTime('2024-01-01T00:01:00'), 1704067260000);
  assert.equal(traceTime('2024-01-01 00:01'), 1704067260000);
  assert.equal(traceTime('2024-01-01'), 1704067200000);
  assert.ok(Number.isNaN(traceTime('January 1st')));
});

test('quoted fields, spaces and blank lines are CSV, not errors', () => {
  const w = parseTrace('ts,series,value\n\n0, "db.orders,eu" ,3\n1000,b,1\n');
  assert.deepEqual(
    w.tables.map((t) => t.name),
    ['b', 'db.orders,eu'],
  );
});

test('a bad row is an InputError naming its line (blank lines counted)', () => {
  assert.throws(
    () => parseTrace('ts,series,value\n0,a,1\n\nyesterday,a,2\n'),
    lineError(4, /ts is neither epoch milliseconds nor an ISO-8601 time: yesterday/),
  );
  assert.throws(() => parseTrace('ts,series,value\n0,a,1\n1000,a\n'), lineError(3, /expected 3 fields, got 2/));
  assert.throws(() => parseTrace('ts,table,key,reads,writes\n0,t,0,-1,0\n'), lineError(2, /≥ 0/));
  assert.throws(() => parseTrace('ts,table,key,reads,writes\n0,t,,1,0\n'), lineError(2, /must be numbers/));
  assert.throws(
    () => parseTrace('ts,series,value\n0,"a,1\n'),
    (e) => e instanceof InputError && /trace line \d+: /.test(e.message),
  );
  assert.throws(
    () => parseTrace('a,b\n1,2\n'),
    (e) => e instanceof InputError && /header/.test(e.message),
  );
  assert.throws(
    () => parseTrace(''),
    (e) => e instanceof InputError && /empty/.test(e.message),
  );
});
