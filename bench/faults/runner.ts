/**
 * `shardcast bench faults`: each fault row on the fault stack (privateStack.ts), one after the
 * other, each with its own sources, consumer groups and event-time range (later than the rows
 * before it, whose closing events have moved the watermarks on). Prints one row per fault.
 */
import { loadConfig } from '../../lib/config.js';
import { UsageError } from '../../lib/errors.js';
import { formatTable } from '../../lib/table.js';
import { openContext } from '../../pipelines/context.js';
import { brokerKill } from './brokerKill.js';
import { clickhouseDown } from './clickhouseDown.js';
import { executorKill } from './executorKill.js';
import { neo4jDown } from './neo4jDown.js';
import { pgNodeKillMove, pgNodeKillRekey, pgNodeKillReplicate, pgNodeKillSplit } from './pgNodeKill.js';
import { SPAN_MS } from './load.js';
import { PrivateStack, type ServiceName } from './privateStack.js';
import { type Fault, type FaultRow, notRun } from './row.js';
import { registryDown } from './registryDown.js';
import { stageFreeze } from './stageFreeze.js';

/** Rows by the short name `--only` takes; a name with a reason: not run yet, printed as such. */
export const FAULTS: Record<string, Fault | { name: string; reason: string }> = {
  broker: brokerKill,
  registry: registryDown,
  clickhouse: clickhouseDown,
  freeze: stageFreeze,
  neo4j: neo4jDown,
  'pg-node': pgNodeKillMove,
  'pg-node-split': pgNodeKillSplit,
  'pg-node-replicate': pgNodeKillReplicate,
  'pg-node-rekey': pgNodeKillRekey,
  executor: executorKill,
};

export interface FaultsOptions {
  only?: readonly string[];
  /** Events per row (default 30,000). */
  n?: number;
  /** How long each outage lasts (default: each row's own, FaultEnv.outageMs). */
  outageMs?: number;
  /** The fault stack's directory (default: config faultsStackDir, .stack-faults in the working directory). */
  stackDir?: string;
  /** How far the fault stack's ports are shifted from the main stack's (default: config faultsPortShift, 10000). */
  portShift?: number;
  /** Stop the fault stack at the end (default true). */
  stopStack?: boolean;
  log?: (line: string) => void;
}

export interface FaultsReport {
  rows: FaultRow[];
}

/** A row's event time: rows are ten minutes apart, all in the past. */
const rowStart = (base: number, i: number) => base + i * 10 * (SPAN_MS + 60_000);

export async function runFaults(o: FaultsOptions = {}): Promise<FaultsReport> {
  const names = o.only?.length ? [...o.only] : Object.keys(FAULTS);
  const unknown = names.filter((n) => !(n in FAULTS));
  if (unknown.length) throw new UsageError(`--only: unknown fault ${unknown.join(', ')}; expected ${Object.keys(FAULTS).join(', ')}`);
  const log = o.log ?? (() => undefined);
  const selected = names.map((n) => FAULTS[n]!);
  const runnable = selected.filter((f): f is Fault => 'run' in f);
  const services = [...new Set(runnable.flatMap((f) => f.services))] as ServiceName[];
  // the flag's shift is checked like the environment's (ConfigError naming the key)
  const main = loadConfig({ faultsPortShift: o.portShift, faultsStackDir: o.stackDir });
  const rows: FaultRow[] = [];
  if (runnable.length === 0) return { rows: selected.map((f) => notRun(f.name, 'reason' in f ? f.reason : '')) };
  const stack = await PrivateStack.open(main.faultsStackDir, main.faultsPortShift, services, log, `${main.stackDir}/lib`);
  const ctx = await openContext('bench-faults', stack.cfg);
  const base = Math.floor((Date.now() - 6 * 3_600_000) / 60_000) * 60_000;
  const stamp = Date.now().toString(36);
  try {
    for (const [i, f] of selected.entries()) {
      if (!('run' in f)) {
        rows.push(notRun(f.name, f.reason));
        continue;
      }
      log(`${f.name}: running`);
      await stack.up(f.services);
      const t0 = Date.now();
      const row = await f
        .run({ stack, ctx, n: o.n ?? 30_000, t0: rowStart(base, i), runId: `faults_${stamp}_${i}`, outageMs: o.outageMs ?? null, log })
        .catch((err: unknown): FaultRow => ({ ...notRun(f.name, `failed: ${(err as Error).message}`), status: 'ran' }));
      log(
        `${f.name}: ${row.lost ?? '?'} lost, ${row.duplicated ?? '?'} duplicated, recovered in ${row.recoverySec ?? '?'} s (row took ${Math.round((Date.now() - t0) / 1000)} s)`,
      );
      rows.push(row);
    }
  } finally {
    await ctx.close().catch(() => undefined);
    if (o.stopStack !== false) await stack.close();
  }
  return { rows };
}

export function formatFaults(r: FaultsReport): string {
  return formatTable(
    r.rows.map((x) => ({
      fault: x.fault,
      'events in': x.eventsIn,
      accounted: x.accounted,
      lost: x.lost,
      duplicated: x.duplicated,
      'recovery s': x.recoverySec,
      note: x.status === 'not run' ? `not run: ${x.note}` : x.note,
    })),
    { decimals: 1 },
  );
}
