/**
 * Rows of `shardcast bench faults` through its runner, on the fault suite's own stack (ports
 * shifted by SHARDCAST_FAULTS_PORT_SHIFT, default 10000; its own directory; stopped at the end).
 * First: ClickHouse SIGKILLed for 15 s while the sink (a child process) writes 5,000 query
 * events; the sink must hold its backlog, catch up, and ClickHouse must hold each event exactly
 * once by plain count().
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

/**
 * Two more rows: the shard's node SIGKILLed mid-split, the replica's node mid-replicate (each
 * back after 10 s), 20,000 rows each (with fewer the split can finish before the kill lands). The command waits for its node (RUNNING) and resumes or
 * rolls back; every seeded row is read back once, and a replica the routing map lists holds its
 * primary's rows.
 */
test('bench faults: a PostgreSQL node SIGKILLed mid-split and mid-replicate loses and duplicates no row', {
  timeout: 300_000,
}, async () => {
  const { rows } = await runFaults({
    only: ['pg-node-split', 'pg-node-replicate'],
    n: 20_000,
    log: (line) => process.stderr.write(`# ${line}\n`),
  });
  assert.equal(rows.length, 2);
  for (const row of rows) {
    process.stderr.write(`# ${JSON.stringify(row)}\n`);
    assert.equal(row.status, 'ran', row.note);
    assert.equal(row.eventsIn, 20_000);
    assert.equal(row.accounted, 20_000, row.note);
    assert.equal(row.lost, 0, row.note);
    assert.equal(row.duplicated, 0, row.note);
    assert.match(row.note, /SUCCEEDED|ROLLED_BACK/, 'the command resumed or rolled back');
    assert.ok(row.recoverySec !== null, 'the command reached a final result');
  }
});
