/** Hand-made traces and records shared by the simulator and decide tests. */
import type { WorkloadAggregate } from '../../schemas/types.js';
import type { Workload } from '../../bench/sim/workload.js';

/** One table `t` of `units` key units at 1-minute steps; `reads(t, u)` and `writes(t, u)` per unit and step. */
export function handWorkload(
  steps: number,
  units: number,
  reads: (t: number, u: number) => number,
  writes: (t: number, u: number) => number = () => 0,
): Workload {
  const r = new Float64Array(steps * units),
    wr = new Float64Array(steps * units);
  for (let t = 0; t < steps; t++)
    for (let u = 0; u < units; u++) {
      r[t * units + u] = reads(t, u);
      wr[t * units + u] = writes(t, u);
    }
  return {
    name: 'hand',
    description: 'hand',
    kind: 'trace',
    stepMs: 60_000,
    steps,
    startTs: 0,
    evalStart: 0,
    unitBytes: 1024 ** 3,
    tables: [{ name: 't', units, keyLo: 0, keyHi: units }],
    reads: [r],
    writes: [wr],
    coAccess: [],
  };
}

/** An aggregate of `queries` (all reads) with every other count zero; identity fields as given. */
export function aggregate(
  a: Pick<WorkloadAggregate, 'seriesId' | 'windowStart' | 'windowEnd' | 'source' | 'queries'> & Partial<WorkloadAggregate>,
): WorkloadAggregate {
  return {
    table: null,
    keyBucket: null,
    partition: null,
    node: null,
    reads: a.queries,
    writes: 0,
    rowsRead: 0,
    rowsWritten: 0,
    errors: 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: 0,
    latencyP50Ms: null,
    latencyP95Ms: null,
    latencyP99Ms: null,
    hotKeys: [],
    coAccess: [],
    ...a,
  };
}
