import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateConfig } from '../../bench/faults/privateStack.js';
import { tallyRows, tallyWindows } from '../../bench/faults/tally.js';
import { loadConfig } from '../../lib/config.js';
import { stackServices } from '../../infra/stack.js';

test('a (series, window) counted once; a repeat is duplicated, a missing count lost', () => {
  const w = (seriesId: string, windowStart: number, queries: number) => ({ seriesId, windowStart, queries });
  assert.deepEqual(tallyWindows(30, [w('a', 0, 10), w('a', 10, 10), w('b', 0, 10)]), {
    eventsIn: 30,
    accounted: 30,
    lost: 0,
    duplicated: 0,
    repeatedWindows: 0,
  });
  const t = tallyWindows(30, [w('a', 0, 10), w('a', 0, 10), w('b', 0, 10)]);
  assert.deepEqual([t.accounted, t.lost, t.duplicated, t.repeatedWindows], [20, 10, 10, 1]);
  // a window counting an event twice shows as duplicated even when emitted once
  assert.equal(tallyWindows(30, [w('a', 0, 21), w('b', 0, 10)]).duplicated, 1);
  assert.deepEqual(tallyRows(100, 103, 99), { eventsIn: 100, accounted: 99, lost: 1, duplicated: 4, repeatedWindows: 0 });
});

test('the fault stack listens on no port of the main stack: every port shifted', () => {
  const main = loadConfig({}, {});
  const faults = privateConfig('/tmp/shardcast-faults-test', 50_000);
  assert.equal(faults.stackDir, '/tmp/shardcast-faults-test');
  assert.ok(
    Object.values(faults.external).every((e) => !e),
    'nothing external: the suite starts and stops it',
  );
  const ports = (cfg: typeof main) => stackServices(cfg).flatMap((s) => s.ports(cfg));
  assert.deepEqual(
    ports(faults),
    ports(main).map((p) => p + 50_000),
  );
});

test('the fault stack shift and directory come from the configuration', () => {
  const c = loadConfig({}, { SHARDCAST_FAULTS_PORT_SHIFT: '50000', SHARDCAST_FAULTS_STACK_DIR: '/tmp/f' });
  assert.equal(c.faultsPortShift, 50_000);
  assert.equal(c.faultsStackDir, '/tmp/f');
  assert.equal(loadConfig({}, {}).faultsPortShift, 10_000);
  assert.throws(() => loadConfig({}, { SHARDCAST_FAULTS_PORT_SHIFT: '60000' }), /SHARDCAST_FAULTS_PORT_SHIFT/);
});
