import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type DemoReport, printReport } from '../../demo/report.js';

const report: DemoReport = {
  runId: 'abcd1234',
  startedAtMs: 1764670000000,
  durationSec: 60,
  workload: { pgbenchTransactions: 12345, pgbenchFailures: [], writesAcknowledged: 1400, writeErrors: 2, collectedEvents: 13000 },
  stages: { aggregates: 420, ingestDeadLetters: 1, forecasts: 95, commands: 3, executed: 3, sinkRows: 15000 },
  nodeLoad: [
    { node: 'node0', before: 900, after: 450 },
    { node: 'node1', before: 300, after: 1610 },
  ],
  decisions: [],
  placement: [
    { partition: 's0', lo: null, hi: '25000', node: 'node0', replicas: [], rows: 25000 },
    { partition: 's10', lo: '25000', hi: '31000', node: 'node2', replicas: ['node1'], rows: 310 },
  ],
  rowsVerified: { expected: 10, found: 10, missing: 0, unexpected: 0, duplicates: 0, ok: true },
  analytics: {
    'node-load': {
      command: 'shardcast analytics node-load',
      rows: [
        { node: 'node0', total_queries: '1234' },
        { node: 'node1', total_queries: '87' },
      ],
    },
  },
  comparison: {
    slaP99Ms: 250,
    control: { transactions: 9000, p50Ms: 40, p99Ms: 2400.5, slaViolationMinutes: 1.5, commandsPlanned: 4, commandsSucceeded: 0 },
    managed: { transactions: 9100, p50Ms: 38, p99Ms: 310, slaViolationMinutes: 0.3, commandsPlanned: 5, commandsSucceeded: 5 },
  },
};

function printed(r: DemoReport): string[] {
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
  try {
    printReport(r);
  } finally {
    process.stdout.write = write;
  }
  return out.join('').split('\n');
}

/** The lines of the table whose header line starts with `header` (header, rule, rows). */
function tableAfter(lines: string[], header: string | RegExp): string[] {
  const i = lines.findIndex((l) => (typeof header === 'string' ? l.trimStart().startsWith(header) : header.test(l)));
  assert.ok(i >= 0, `a table headed ${header}`);
  const end = lines.findIndex((l, j) => j > i && l.trim() === '');
  return lines.slice(i, end < 0 ? undefined : end);
}

test('the demo summary prints aligned tables with numbers right-aligned', () => {
  const lines = printed(report);
  for (const header of ['workload', 'stage', 'node', 'partition']) {
    const t = tableAfter(lines, header);
    assert.ok(t.length >= 3, header);
    assert.match(t[1]!, /^ {2}-+( {2}-+)+$/, `${header}: a rule under the header`);
  }
  // numbers end in the same column
  const load = tableAfter(lines, /^ {2}node +before +after$/);
  const ends = load.filter((l) => /\d$/.test(l)).map((l) => l.length);
  assert.equal(new Set(ends).size, 1, load.join('\n'));
  const stages = tableAfter(lines, 'stage');
  assert.ok(stages.some((l) => /^ {2}sinkRows +15000$/.test(l)));
  assert.ok(stages.some((l) => /^ {2}commands +3$/.test(l)));
  // ClickHouse's 64-bit integers arrive as strings and still align right
  const ch = tableAfter(lines, /^ {2}node +total_queries$/);
  assert.deepEqual(ch.slice(2), ['  node0           1234', '  node1             87']);
});

test('the summary sets the control run and the managed run side by side', () => {
  const lines = printed(report);
  assert.ok(lines.some((l) => /SLA: p99 latency ≤ 250 ms/.test(l)));
  const t = tableAfter(lines, /^ {2}run +SLA-violation minutes/);
  assert.match(t.find((l) => l.trimStart().startsWith('control'))!, /control +1\.500 +2400\.500 +40 +9000 +4 +0$/);
  assert.match(t.find((l) => l.trimStart().startsWith('managed'))!, /managed +0\.300 +310\.000 +38 +9100 +5 +5$/);
  // without a control run there is nothing to compare
  assert.ok(!printed({ ...report, comparison: null }).some((l) => /control run/.test(l)));
});
