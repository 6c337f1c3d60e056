/**
 * What a policy may read of the trace: the past only. A `PastView` answers for steps before the
 * current one and throws a StateError for any later step, so a policy cannot read ahead by
 * accident or on purpose; the simulator hands the whole workload only to static (sized for the
 * peak) and clairvoyant, and refuses any other policy that declares look-ahead. No season is
 * handed over: the predictive policy's forecaster detects its own.
 */
import { StateError } from '../../lib/errors.js';
import type { Workload, WorkloadTable } from './workload.js';

export interface PastView {
  name: string;
  stepMs: number;
  startTs: number;
  tables: readonly WorkloadTable[];
  unitBytes: number;
  /** Steps visible: 0 … visible − 1. */
  readonly visible: number;
  reads(table: number, t: number, unit: number): number;
  writes(table: number, t: number, unit: number): number;
  /** reads + writes. */
  load(table: number, t: number, unit: number): number;
}

/** A view of `w` that the simulator advances step by step. */
export function pastView(w: Workload): PastView & { advance(step: number): void } {
  let visible = 0;
  const check = (t: number) => {
    if (!(t >= 0 && t < visible)) throw new StateError(`step ${t} is not in the past (${visible} steps observed): no look-ahead`);
  };
  return {
    name: w.name,
    stepMs: w.stepMs,
    startTs: w.startTs,
    tables: w.tables,
    unitBytes: w.unitBytes,
    get visible() {
      return visible;
    },
    advance(step: number) {
      visible = step;
    },
    reads(ti, t, u) {
      check(t);
      return w.reads[ti]![t * w.tables[ti]!.units + u]!;
    },
    writes(ti, t, u) {
      check(t);
      return w.writes[ti]![t * w.tables[ti]!.units + u]!;
    },
    load(ti, t, u) {
      check(t);
      const i = t * w.tables[ti]!.units + u;
      return w.reads[ti]![i]! + w.writes[ti]![i]!;
    },
  };
}
