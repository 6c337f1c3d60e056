import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSinkReport, sinkReportOf } from '../../bench/sink.js';

// the figures of one whole run on the local stack (docs/decisions/0040)
const rounds = [
  [11_034, 29_248, 36_532],
  [24_853, 21_855, 26_080],
  [18_995, 39_601, 49_267],
  [83_946, 86_566, 87_703],
  [71_559, 38_226, 34_291],
].map(([sink, seq, conc]) => ({ sinkRowsPerSec: sink!, sequentialBulkRowsPerSec: seq!, concurrentBulkRowsPerSec: conc! }));

test('bench sink compares the medians of its rounds, against the faster baseline median', () => {
  const r = sinkReportOf(rounds, 200_000, 200_000);
  assert.equal(r.rounds, 5);
  assert.equal(r.sinkRowsPerSec, 24_853);
  assert.equal(r.sequentialBulkRowsPerSec, 38_226);
  assert.equal(r.concurrentBulkRowsPerSec, 36_532);
  assert.equal(r.baselineRowsPerSec, 38_226);
  assert.equal(r.ratio.toFixed(3), (24_853 / 38_226).toFixed(3));
  assert.equal(r.pass, false);
  // the best single round would have passed: the medians decide, not one lucky pair
  assert.ok(rounds[3]!.sinkRowsPerSec / Math.max(rounds[3]!.sequentialBulkRowsPerSec, rounds[3]!.concurrentBulkRowsPerSec) > 0.7);
});

test('an even number of rounds takes the mean of the middle two', () => {
  const r = sinkReportOf(rounds.slice(0, 4), 200_000, 200_000);
  assert.equal(r.sinkRowsPerSec, (18_995 + 24_853) / 2);
});

test('the printed report lists every round, then the medians and the verdict', () => {
  const text = formatSinkReport(sinkReportOf(rounds, 200_000, 200_000));
  const lines = text.split('\n');
  for (const [i, r] of rounds.entries())
    assert.ok(
      lines.some((l) =>
        new RegExp(`^\\s+${i + 1}\\s+${r.sinkRowsPerSec}\\s+${r.sequentialBulkRowsPerSec}\\s+${r.concurrentBulkRowsPerSec}$`).test(l),
      ),
      `round ${i + 1} printed`,
    );
  assert.match(text, /bulk insert from memory, sequential\s+1\s+38226\s+0\.65/);
  assert.match(text, /sink pipeline, Kafka → ClickHouse\s+2\s+24853\s+1\.00/);
  assert.match(text, /sink \/ faster baseline \(medians\): 0\.65, target ≥ 0\.7 FAIL/);
});
