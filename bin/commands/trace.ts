/**
 * `shardcast trace ycsb --out W.csv`: runs the YCSB client (site.ycsb:core from Maven Central,
 * `site.ycsb.BasicDB` with verbose output) and converts what it prints into the simulator's
 * trace format `ts,table,key,reads,writes` (bench/ycsbTrace.ts says how time and keys are made).
 */
import { writeFileSync } from 'node:fs';
import { UsageError } from '../../lib/errors.js';

export interface TraceYcsbOptions {
  out?: string;
  distribution: string;
  records: number;
  readProportion: number;
  updateProportion: number;
  insertProportion: number;
  insertOrder: string;
  days: number;
  stepSeconds: number;
  peakOps: number;
  opWeight: number;
  keyBuckets: number;
  install?: boolean;
  json?: boolean;
}

const DISTRIBUTIONS = ['zipfian', 'hotspot', 'latest', 'uniform'] as const;

export async function traceCommand(kind: string, o: TraceYcsbOptions): Promise<void> {
  if (kind !== 'ycsb') throw new UsageError(`unknown trace source ${JSON.stringify(kind)}; expected ycsb`);
  const { DEFAULT_SHAPE, installYcsb, runYcsb, ycsbLibDir } = await import('../../bench/ycsbTrace.js');
  if (!(DISTRIBUTIONS as readonly string[]).includes(o.distribution)) {
    throw new UsageError(`--distribution must be one of ${DISTRIBUTIONS.join(', ')}`);
  }
  if (o.insertOrder !== 'ordered' && o.insertOrder !== 'hashed') throw new UsageError('--insert-order must be ordered or hashed');
  const props = [o.readProportion, o.updateProportion, o.insertProportion];
  if (props.some((p) => !(p >= 0 && p <= 1)) || Math.abs(props.reduce((a, b) => a + b, 0) - 1) > 1e-9) {
    throw new UsageError('--read, --update and --insert proportions must be in [0, 1] and add up to 1');
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const lib = ycsbLibDir();
  installYcsb(lib, log);
  if (o.install && !o.out) {
    log(`ycsb: jars in ${lib}`);
    return;
  }
  if (!o.out) throw new UsageError('--out <csv> is required (or --install alone to fetch the jars)');
  const stepMs = o.stepSeconds * 1000;
  const r = runYcsb(
    {
      distribution: o.distribution as (typeof DISTRIBUTIONS)[number],
      records: o.records,
      readProportion: o.readProportion,
      updateProportion: o.updateProportion,
      insertProportion: o.insertProportion,
      insertOrder: o.insertOrder,
      shape: {
        ...DEFAULT_SHAPE,
        stepMs,
        steps: Math.round((o.days * 86_400_000) / stepMs),
        peakOpsPerStep: o.peakOps,
        opWeight: o.opWeight,
        keyBuckets: o.keyBuckets,
      },
    },
    lib,
  );
  writeFileSync(o.out, r.csv);
  const summary = {
    out: o.out,
    operations: r.ops,
    placed: r.placed,
    steps: r.steps,
    rows: r.rows,
    keyLo: r.keyLo,
    keyHi: r.keyHi,
    ycsbMs: r.wallMs,
    command: r.command,
  };
  process.stdout.write(
    o.json
      ? `${JSON.stringify(summary, null, 2)}\n`
      : `wrote ${o.out}: ${r.rows} rows, ${r.steps} steps of ${o.stepSeconds}s, ${r.ops} YCSB operations (${r.placed} placed), keys ${r.keyLo}..${r.keyHi}, client ran ${(r.wallMs / 1000).toFixed(1)} s\n`,
  );
}
