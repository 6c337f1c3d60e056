/**
 * `run ingest` started while the schema registry is down waits for it instead of exiting: the
 * registry row of `shardcast bench faults` on the fault suite's own stack (the registry
 * SIGKILLed during ingest, ingest SIGKILLed and started again while it is down, the registry
 * back 20 s later). Without the start's retry the new ingest exits and every event is lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaults } from '../../bench/faults/runner.js';

test('ingest started while the registry is down waits for it and counts every event once', { timeout: 240_000 }, async () => {
  const { rows } = await runFaults({ only: ['registry'], n: 5_000, log: (line) => process.stderr.write(`# ${line}\n`) });
  const [row] = rows;
  process.stderr.write(`# ${JSON.stringify(row)}\n`);
  assert.equal(row!.status, 'ran', row!.note);
  assert.doesNotMatch(row!.note, /exited/);
  assert.equal(row!.lost, 0, row!.note);
  assert.equal(row!.duplicated, 0, row!.note);
  assert.equal(row!.accounted, 5_000);
});
