/** One fault row: what a fault needs to run, and what it reports. */
import type { Logger } from '../../lib/log.js';
import type { PipelineContext } from '../../pipelines/context.js';
import type { Observed } from './observe.js';
import type { PrivateStack, ServiceName } from './privateStack.js';

export interface FaultRow {
  fault: string;
  /** ran: measured; not run: `note` says why. */
  status: 'ran' | 'not run';
  eventsIn: number | null;
  accounted: number | null;
  lost: number | null;
  duplicated: number | null;
  /** Seconds from the fault lifted to every event accounted for (null: not recovered in time). */
  recoverySec: number | null;
  note: string;
}

export interface FaultEnv {
  stack: PrivateStack;
  /** A client of the fault stack: producer, serde, Kafka. */
  ctx: PipelineContext;
  /** Events per row. */
  n: number;
  /** Event time of the row's first event. */
  t0: number;
  /** Names the row's sources and consumer groups. */
  runId: string;
  /** How long an outage lasts, where the fault has one; null: the row's own default. */
  outageMs: number | null;
  log: Logger | ((line: string) => void);
}

export interface Fault {
  name: string;
  /** The services of the fault stack the row needs. */
  services: readonly ServiceName[];
  run(env: FaultEnv): Promise<FaultRow>;
}

/** The row of an observation: counts from the tally, recovery from the lift to completion. */
export function measuredRow(fault: string, observed: Observed, liftedAt: number, note = ''): FaultRow {
  const t = observed.tally;
  return {
    fault,
    status: 'ran',
    eventsIn: t.eventsIn,
    accounted: t.accounted,
    lost: t.lost,
    duplicated: t.duplicated,
    recoverySec: observed.completeAt === null ? null : Math.max(0, Math.round((observed.completeAt - liftedAt) / 100) / 10),
    note: [note, t.repeatedWindows ? `${t.repeatedWindows} (series, window) emitted twice` : ''].filter(Boolean).join('; '),
  };
}

export const notRun = (fault: string, note: string): FaultRow => ({
  fault,
  status: 'not run',
  eventsIn: null,
  accounted: null,
  lost: null,
  duplicated: null,
  recoverySec: null,
  note,
});
