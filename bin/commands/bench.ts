/** `shardcast bench ingest|forecast|policy|sink|faults`: each prints measured figures beside its baseline. */
import { UsageError } from '../../lib/errors.js';

const log = (json?: boolean) => (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

export interface BenchOptions {
  json?: boolean;
  /** bench policy only. */
  seed?: number;
  seeds?: string;
  families?: string;
  workers?: number;
  /** bench faults only. */
  only?: string;
  events?: number;
  /** Seconds each outage lasts (bench faults). */
  outage?: number;
  portShift?: number;
  set?: string;
  runs?: string;
}

export async function benchCommand(name: string, o: BenchOptions): Promise<void> {
  if (name !== 'faults' && (o.only || o.events !== undefined || o.outage !== undefined || o.portShift !== undefined))
    throw new UsageError('--only, --events, --outage and --port-shift apply to bench faults only');
  if (name !== 'policy' && (o.seed !== undefined || o.seeds || o.families || o.workers || o.set || o.runs))
    throw new UsageError('--set, --seed, --seeds, --families, --workers and --runs apply to bench policy only');
  switch (name) {
    case 'forecast': {
      const { runForecastBench } = await import('../../bench/forecastBench.js');
      const report = await runForecastBench({ json: o.json, log: log(o.json) });
      if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    case 'policy': {
      const { runPolicyBench } = await import('../../bench/policyBench.js');
      const { parseSeeds } = await import('../../bench/sim/families.js');
      if (o.seed !== undefined && o.seeds) throw new UsageError('give --seed or --seeds, not both');
      const seeds = o.seed !== undefined ? [o.seed] : o.seeds ? parseSeeds(o.seeds) : undefined;
      if (seeds === null) throw new UsageError(`--seeds ${o.seeds}: expected a..b or a,b,c (non-negative integers)`);
      if (o.set !== undefined && o.set !== 'tuning' && o.set !== 'evaluation')
        throw new UsageError(`--set ${o.set}: expected tuning or evaluation`);
      const { report, text } = await runPolicyBench({
        json: o.json,
        seeds,
        set: o.set,
        runsFile: o.runs,
        families: o.families?.split(',').map((f) => f.trim()),
        workers: o.workers,
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${text}\n`);
      return;
    }
    case 'sink': {
      const { runSinkBench, formatSinkReport } = await import('../../bench/sink.js');
      const r = await runSinkBench({ log: log(o.json) });
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatSinkReport(r)}\n`);
      return;
    }
    case 'ingest': {
      const { runIngestBench } = await import('../../bench/ingest.js');
      const r = await runIngestBench({ log: log(o.json) });
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.text}\n`);
      return;
    }
    case 'faults': {
      const { runFaults, formatFaults } = await import('../../bench/faults/runner.js');
      const only = o.only
        ?.split(',')
        .map((f) => f.trim())
        .filter(Boolean);
      const r = await runFaults({
        only,
        n: o.events,
        outageMs: o.outage === undefined ? undefined : o.outage * 1000,
        portShift: o.portShift,
        log: log(o.json),
      });
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatFaults(r)}\n`);
      return;
    }
    default:
      throw new UsageError(`unknown benchmark ${JSON.stringify(name)}; expected ingest, forecast, policy, sink or faults`);
  }
}
