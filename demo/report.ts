/**
 * The demo's report: what it holds (`demo --json` prints it as is) and how it reads on a terminal.
 */
import { formatTable } from '../lib/table.js';
import type { CommandOutcome } from '../catalog/placement.js';
import type { Comparison } from './comparison.js';

export interface DemoReport {
  runId: string;
  startedAtMs: number;
  durationSec: number;
  workload: {
    pgbenchTransactions: number;
    pgbenchFailures: string[];
    writesAcknowledged: number;
    writeErrors: number;
    collectedEvents: number;
  };
  stages: Record<string, number>;
  nodeLoad: { node: string; before: number; after: number }[];
  decisions: { commandId: string; action: string; store: string; explanation: string; outcome?: CommandOutcome | null }[];
  /** The table's partitions as the catalog has them at the end (after the run's changes). */
  placement: { partition: string; lo: string | null; hi: string | null; node: string | null; replicas: string[]; rows: number | null }[];
  rowsVerified: { expected: number; found: number; missing: number; unexpected: number; duplicates: number; ok: boolean };
  analytics: Record<string, { command: string; rows: unknown[] }>;
  /** The managed run against the control run of the same workload with execution off (null: no control run). */
  comparison: Comparison | null;
}

/** Per node, mean queries per 15-s bucket in the first and the last third of the run. */
export function nodeLoadBeforeAfter(
  rows: { node: string; bucket_ms: string | number; total_queries: string | number }[],
): DemoReport['nodeLoad'] {
  const buckets = [...new Set(rows.map((r) => Number(r.bucket_ms)))].sort((a, b) => a - b);
  if (buckets.length === 0) return [];
  const third = Math.max(1, Math.floor(buckets.length / 3));
  const early = new Set(buckets.slice(0, third));
  const late = new Set(buckets.slice(-third));
  const nodes = [...new Set(rows.map((r) => r.node))].sort();
  const mean = (node: string, set: Set<number>) =>
    rows.filter((r) => r.node === node && set.has(Number(r.bucket_ms))).reduce((a, r) => a + Number(r.total_queries), 0) / set.size;
  return nodes.map((node) => ({ node, before: Math.round(mean(node, early)), after: Math.round(mean(node, late)) }));
}

export function printReport(r: DemoReport): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const table = (rows: Record<string, unknown>[]) => out(formatTable(rows, { indent: '  ' }));
  out(`\nshardcast demo ${r.runId}: ${r.durationSec} s of workload from ${new Date(r.startedAtMs).toISOString()}`);
  const w = r.workload;
  table([
    {
      workload: 'pgbench transactions',
      count: w.pgbenchTransactions,
      note: w.pgbenchFailures.length ? `${w.pgbenchFailures.length} segment(s) cut short: ${w.pgbenchFailures[0]}` : '',
    },
    { workload: 'writes acknowledged', count: w.writesAcknowledged, note: `${w.writeErrors} refused, not acknowledged` },
    { workload: 'statements collected', count: w.collectedEvents, note: "from the nodes' csvlogs" },
  ]);
  out('');
  table(Object.entries(r.stages).map(([stage, count]) => ({ stage, count })));
  out('\nload per node (queries per 15 s, first third → last third of the run):');
  table(r.nodeLoad.map((n) => ({ node: n.node, before: n.before, after: n.after })));
  out('\ndecisions (evidence and expected benefit in the explanation; outcomes below):');
  for (const d of r.decisions) {
    out(`  ${d.action.padEnd(10)} ${d.explanation}`);
    const o = d.outcome;
    if (o) {
      const moved = o.rowsCopied
        ? `, ${o.rowsCopied} rows copied${o.verified === true ? ' and verified (count + checksum)' : o.verified === false ? ', verification FAILED' : ''}`
        : '';
      out(
        `  ${''.padEnd(10)} → ${o.status}${o.reason ? `: ${o.reason}` : ''}${moved}${o.durationMs ? ` in ${(o.durationMs / 1000).toFixed(1)} s` : ''}`,
      );
    } else
      out(
        `  ${''.padEnd(10)} → no result: held until the commands it depends on succeeded (dropped if one did not), or not taken before the end`,
      );
  }
  if (r.decisions.length === 0) out('  (none: the forecast load stayed within capacity)');
  if (r.placement.length > 0) {
    out('\nplacement at the end, from the Neo4j catalog (shardcast catalog where orders <key>):');
    table(
      [...r.placement]
        // in key order: the lowest range (no lower bound) first
        .sort((a, b) => (a.lo === null ? -Infinity : Number(a.lo)) - (b.lo === null ? -Infinity : Number(b.lo)))
        .map((p) => ({
          partition: p.partition,
          range: `[${p.lo ?? '-∞'}, ${p.hi ?? '+∞'})`,
          node: p.node ?? '?',
          replicas: p.replicas.join(', '),
          'rows (estimate)': p.rows,
        })),
    );
  }
  if (r.comparison) printComparison(r.comparison, out);
  const v = r.rowsVerified;
  out(
    `\nrows verified after the run: ${v.ok ? 'OK' : 'MISMATCH'}: ${v.found} rows found, ${v.expected} expected from the acknowledged writes; missing ${v.missing}, unexpected ${v.unexpected}, duplicates ${v.duplicates}`,
  );
  for (const [name, a] of Object.entries(r.analytics)) {
    out(`\n${name}  (${a.command})`);
    table(a.rows.slice(0, name === 'node-load' ? 12 : 6) as Record<string, unknown>[]);
  }
}

function printComparison(c: Comparison, out: (s: string) => void): void {
  out(
    `\nmanaged run against the control run (same workload and seed, execution off); SLA: p99 latency ≤ ${c.slaP99Ms} ms per node per segment`,
  );
  out(
    formatTable(
      (['control', 'managed'] as const).map((run) => ({
        run,
        'SLA-violation minutes': c[run].slaViolationMinutes,
        'p99 ms': c[run].p99Ms,
        'p50 ms': c[run].p50Ms,
        transactions: c[run].transactions,
        'commands planned': c[run].commandsPlanned,
        succeeded: c[run].commandsSucceeded,
      })),
      { indent: '  ' },
    ),
  );
}
