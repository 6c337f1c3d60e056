/**
 * The demo's managed run against its control run (same workload, same seed, execution off),
 * from what pgbench's clients measured: every transaction's latency, schedule lag included.
 * A node breaks the SLA in a segment when the p99 of its transactions there exceeds the SLA
 * latency; SLA-violation minutes are those node-segments' length, in minutes.
 */
import { quantile } from '../models/util.js';

/** One workload segment: how long it ran and, per node, the latencies its pgbench measured (ms). */
export interface SegmentLatencies {
  seconds: number;
  nodes: readonly { node: string; latenciesMs: readonly number[] }[];
}

export interface RunFigures {
  transactions: number;
  p50Ms: number;
  p99Ms: number;
  /** Node-minutes in which a node's p99 latency was over the SLA. */
  slaViolationMinutes: number;
  /** Commands the decide stage planned, and those the executor took to SUCCEEDED. */
  commandsPlanned: number;
  commandsSucceeded: number;
}

export interface Comparison {
  /** The SLA: p99 latency per node per segment, in ms. */
  slaP99Ms: number;
  control: RunFigures;
  managed: RunFigures;
}

const round1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : 0);

export function runFigures(
  segments: readonly SegmentLatencies[],
  slaP99Ms: number,
  commands: { planned: number; succeeded: number },
): RunFigures {
  const all: number[] = [];
  let violationSec = 0;
  for (const seg of segments)
    for (const n of seg.nodes) {
      for (const l of n.latenciesMs) all.push(l);
      if (n.latenciesMs.length > 0 && quantile(n.latenciesMs, 0.99) > slaP99Ms) violationSec += seg.seconds;
    }
  return {
    transactions: all.length,
    p50Ms: round1(quantile(all, 0.5)),
    p99Ms: round1(quantile(all, 0.99)),
    slaViolationMinutes: round1(violationSec / 60),
    commandsPlanned: commands.planned,
    commandsSucceeded: commands.succeeded,
  };
}
