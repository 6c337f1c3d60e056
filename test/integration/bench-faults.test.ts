/**
 * One row of `shardcast bench faults` through its runner: ClickHouse SIGKILLed for 15 s while
 * the sink (a child process) writes 5,000 query events, on the fault suite's own stack (ports
 * shifted by 10000, its own directory, stopped at the end). The sink must hold its backlog,
 * catch up, and ClickHouse must hold each event exactly once by plain count().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaults } from '../../bench/faults/runner.js';

test('bench faults: ClickHouse down during sink loses nothing and duplicates nothing', { timeout: 240_000 }, async () => {
  const t0 = Date.now();
  const { rows } = await runFaults({
    only: ['clickhouse'],
    n: 5_000,
    outageMs: 15_000,
    log: (line) => process.stderr.write(`# ${line}\n`),
  });
  assert.equal(rows.length, 1);
  const [row] = rows;
  process.stderr.write(`# ${JSON.stringify(row)} in ${Math.round((Date.now() - t0) / 1000)} s\n`);
  assert.equal(row!.status, 'ran', row!.note);
  assert.equal(row!.eventsIn, 5_000);
  assert.equal(row!.lost, 0, row!.note);
  assert.equal(row!.duplicated, 0, row!.note);
  assert.equal(row!.accounted, 5_000);
  assert.ok(row!.recoverySec !== null, 'the sink caught up');
});
