/**
 * Traces from a real benchmark client: YCSB's CoreWorkload run against `site.ycsb.BasicDB`
 * with `basicdb.verbose=true`, which prints every operation with its table and key, turned into
 * the simulator's trace format `ts,table,key,reads,writes`.
 *
 * Pure part (no I/O): `parseBasicDbLine` (one line of BasicDB output → an operation or null),
 * `shapeRates` (operations per step), `buildTrace` (operations → CSV). I/O part: `ycsbLibDir`,
 * `installYcsb` (the jars from Maven Central via infra/ycsb/pom.xml, cached under the stack
 * directory), `runYcsb` (runs `site.ycsb.Client -t -db site.ycsb.BasicDB` and converts its
 * output), `ycsbWorkloads` (the traces the policy benchmark adds when the jars are there).
 *
 * The time axis: YCSB issues operations as fast as it can and BasicDB prints no timestamps, so
 * time comes from operation order. Operations are dealt to steps in order at a configured rate,
 * `peakOpsPerStep × (night + (1 − night) × diurnal(minute of day))`, the same business-day shape
 * the synthetic periodic workloads use (bench/sim/workload.ts `diurnal`). What is real: which
 * keys are hit, how skewed, in which order, the read/write mix, and how the hot set moves
 * (requestdistribution=latest follows the inserts). What is configured: the rate over the day.
 *
 * Keys: BasicDB prints keys as `user<number>`; the number is the key. With
 * `insertorder=ordered` (the default here) it is the record number, so key ranges are the
 * ranges a range-partitioned store would hold; with `hashed` it is YCSB's 64-bit FNV hash
 * (beyond 2^53 it is rounded, which only moves a key within its bucket). Keys are aggregated
 * into `keyBuckets` equal-width buckets and written as the bucket's lowest key. A SCAN counts as
 * one read at its start key (one query; the records it covers are not spread over buckets).
 * YCSB 0.17 has no seed option: two runs give two different traces.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../lib/config.js';
import { which } from '../infra/process.js';
import { INFRA_DIR, isInstalled, sha256 } from '../infra/toolchain.js';
import { diurnal, type Workload } from './sim/workload.js';
import { parseTrace } from './sim/trace.js';
import { InputError, UnavailableError } from '../lib/errors.js';

export type YcsbOpKind = 'READ' | 'UPDATE' | 'INSERT' | 'DELETE' | 'SCAN';

export interface YcsbOp {
  kind: YcsbOpKind;
  table: string;
  /** The number in the key name (`user123` → 123). */
  key: number;
}

/** `READ usertable user344 [ <all fields>]`, `SCAN usertable user810 740 [ <all fields>]`, … */
const OP_LINE = /^(READ|UPDATE|INSERT|DELETE|SCAN) (\S+) (\S+)(?: \d+)?(?: \[| *$)/;

/**
 * One line of BasicDB's verbose output → the operation, or null for anything else (the
 * property dump, status lines, the closing [OVERALL] statistics). A key name without a number
 * at its end is an error: the trace needs numeric keys.
 */
export function parseBasicDbLine(line: string): YcsbOp | null {
  const m = OP_LINE.exec(line);
  if (!m) return null;
  const digits = /(\d+)$/.exec(m[3]!);
  if (!digits) throw new InputError(`YCSB key without a number: ${m[3]}`);
  return { kind: m[1] as YcsbOpKind, table: m[2]!, key: Number(digits[1]) };
}

export interface TraceShape {
  stepMs: number;
  steps: number;
  /** Operations per step at the daily peak. */
  peakOpsPerStep: number;
  /** Share of the peak rate at night (the floor of the daily shape). */
  night: number;
  keyBuckets: number;
  /** Time of step 0 (midnight, so the daily shape lines up with minute of day). */
  startTs: number;
  /** Queries each YCSB operation stands for in the trace. */
  opWeight: number;
}

export const DEFAULT_SHAPE: TraceShape = {
  stepMs: 120_000,
  steps: 3 * 720,
  peakOpsPerStep: 1200,
  night: 0.1,
  keyBuckets: 64,
  startTs: Date.UTC(2024, 0, 1),
  opWeight: 5,
};

/** Operations per step the shape asks for. */
export function shapeRates(shape: TraceShape): Float64Array {
  const out = new Float64Array(shape.steps);
  for (let t = 0; t < shape.steps; t++) {
    const minute = ((shape.startTs + t * shape.stepMs) / 60_000) % 1440;
    out[t] = shape.peakOpsPerStep * (shape.night + (1 - shape.night) * diurnal(minute));
  }
  return out;
}

export function totalOps(shape: TraceShape): number {
  return Math.ceil(shapeRates(shape).reduce((a, b) => a + b, 0));
}

export interface TraceResult {
  csv: string;
  /** Operations read and operations placed on the time axis (the rest ran past the last step). */
  ops: number;
  placed: number;
  /** Steps that got operations. */
  steps: number;
  rows: number;
  keyLo: number;
  keyHi: number;
}

/**
 * Operations (in the order YCSB issued them) → trace CSV. Step t takes the operations up to
 * the cumulative rate of steps 0..t; keys go to `keyBuckets` equal-width integer buckets over
 * the keys seen. Reads: READ, SCAN; writes: UPDATE, INSERT, DELETE.
 */
export function buildTrace(ops: readonly YcsbOp[], shape: TraceShape): TraceResult {
  if (!ops.length) throw new InputError('no YCSB operations in the output (was basicdb.verbose=true?)');
  let keyLo = Infinity,
    keyHi = -Infinity;
  for (const o of ops) {
    keyLo = Math.min(keyLo, o.key);
    keyHi = Math.max(keyHi, o.key);
  }
  const width = Math.max(1, Math.ceil((keyHi + 1 - keyLo) / shape.keyBuckets));
  const rates = shapeRates(shape);
  const rows: string[] = ['ts,table,key,reads,writes'];
  let i = 0,
    due = 0,
    steps = 0;
  for (let t = 0; t < shape.steps && i < ops.length; t++) {
    due += rates[t]!;
    const cells = new Map<string, { table: string; bucket: number; reads: number; writes: number }>();
    for (; i < ops.length && i < Math.round(due); i++) {
      const o = ops[i]!;
      const bucket = Math.min(shape.keyBuckets - 1, Math.floor((o.key - keyLo) / width));
      const id = `${o.table}\u0000${bucket}`;
      let c = cells.get(id);
      if (!c) {
        c = { table: o.table, bucket, reads: 0, writes: 0 };
        cells.set(id, c);
      }
      if (o.kind === 'READ' || o.kind === 'SCAN') c.reads += shape.opWeight;
      else c.writes += shape.opWeight;
    }
    if (!cells.size) continue;
    steps = t + 1;
    const ts = shape.startTs + t * shape.stepMs;
    for (const c of [...cells.values()].sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : a.bucket - b.bucket))) {
      rows.push(`${ts},${c.table},${keyLo + c.bucket * width},${c.reads},${c.writes}`);
    }
  }
  return { csv: `${rows.join('\n')}\n`, ops: ops.length, placed: i, steps, rows: rows.length - 1, keyLo, keyHi };
}

// ---------------------------------------------------------------------------------------
// I/O: jars, the client run, the benchmark's traces.

export type RequestDistribution = 'zipfian' | 'hotspot' | 'latest' | 'uniform';

export interface YcsbOptions {
  distribution: RequestDistribution;
  records: number;
  readProportion: number;
  updateProportion: number;
  insertProportion: number;
  scanProportion: number;
  insertOrder: 'ordered' | 'hashed';
  shape: TraceShape;
  /** More `-p` properties for the CoreWorkload (e.g. hotspotdatafraction). */
  props: Record<string, string>;
}

export const DEFAULT_YCSB: Omit<YcsbOptions, 'distribution'> = {
  records: 100_000,
  readProportion: 0.9,
  updateProportion: 0.1,
  insertProportion: 0,
  scanProportion: 0,
  insertOrder: 'ordered',
  shape: DEFAULT_SHAPE,
  props: {},
};

/** The traces `shardcast bench policy` adds: one per request distribution. */
export const BENCH_TRACES: { name: string; options: Partial<YcsbOptions> & { distribution: RequestDistribution } }[] = [
  { name: 'ycsb-zipfian', options: { distribution: 'zipfian' } },
  { name: 'ycsb-hotspot', options: { distribution: 'hotspot', props: { hotspotdatafraction: '0.1', hotspotopnfraction: '0.8' } } },
  // latest: reads follow the newest records while 5% of operations insert, so the hot range moves
  { name: 'ycsb-latest', options: { distribution: 'latest', readProportion: 0.85, updateProportion: 0.1, insertProportion: 0.05 } },
];

export function ycsbLibDir(stackDir = loadConfig().stackDir): string {
  return path.join(stackDir, 'lib', 'ycsb');
}

const POM = path.join(INFRA_DIR, 'ycsb', 'pom.xml');
const pomKey = () => sha256(readFileSync(POM));

export function ycsbInstalled(lib = ycsbLibDir()): boolean {
  return isInstalled(lib, pomKey()) && readdirSync(lib).some((f) => /^core-.*\.jar$/.test(f));
}

/**
 * The YCSB jars into `lib` with `mvn dependency:copy-dependencies` (once per pom: a marker
 * holds the pom's hash). Throws with Maven's output when it fails.
 */
export function installYcsb(lib = ycsbLibDir(), log: (line: string) => void = () => {}): void {
  if (ycsbInstalled(lib)) return;
  const mvn = which('mvn');
  if (!mvn) throw new UnavailableError('Maven (mvn) not found: install it (Debian: apt-get install maven) to fetch site.ycsb:core');
  if (!which('java')) throw new UnavailableError('java not found: install a Java runtime to run YCSB');
  log(`ycsb: fetching site.ycsb:core with Maven into ${lib}`);
  const tmp = `${lib}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = spawnSync(
    mvn,
    [
      '-q',
      '-B',
      '-Dstyle.color=never',
      '-f',
      POM,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${tmp}`,
      `-Dshardcast.buildDir=${path.join(tmp, '.mvn-build')}`,
    ],
    { encoding: 'utf8', timeout: 10 * 60_000 },
  );
  rmSync(path.join(tmp, '.mvn-build'), { recursive: true, force: true });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new UnavailableError(
      `mvn dependency:copy-dependencies for ${POM} failed: ${(r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').slice(-5).join(' | ')}`,
    );
  }
  writeFileSync(path.join(tmp, '.shardcast-installed'), `${pomKey()}\n`);
  rmSync(lib, { recursive: true, force: true });
  mkdirSync(path.dirname(lib), { recursive: true });
  renameSync(tmp, lib);
}

/** The `site.ycsb.Client` arguments for these options (operation count from the shape). */
export function clientArgs(o: YcsbOptions, operations: number): string[] {
  const props: Record<string, string> = {
    workload: 'site.ycsb.workloads.CoreWorkload',
    recordcount: String(o.records),
    operationcount: String(operations),
    readproportion: String(o.readProportion),
    updateproportion: String(o.updateProportion),
    insertproportion: String(o.insertProportion),
    scanproportion: String(o.scanProportion),
    readmodifywriteproportion: '0',
    requestdistribution: o.distribution,
    insertorder: o.insertOrder,
    // small values: the output is one line per operation, the values only make it longer
    fieldcount: '1',
    fieldlength: '1',
    'basicdb.verbose': 'true',
    'basicdb.simulatedelay': '0',
    ...o.props,
  };
  return [
    'site.ycsb.Client',
    '-t',
    '-db',
    'site.ycsb.BasicDB',
    '-threads',
    '1',
    ...Object.entries(props).flatMap(([k, v]) => ['-p', `${k}=${v}`]),
  ];
}

/** Reads a text file line by line without holding it whole (BasicDB output runs to ~40 MB). */
function forEachLine(file: string, fn: (line: string) => void): void {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let rest = '';
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) {
      const lines = (rest + buf.toString('utf8', 0, n)).split('\n');
      rest = lines.pop()!;
      for (const l of lines) fn(l);
    }
    if (rest) fn(rest);
  } finally {
    closeSync(fd);
  }
}

export interface YcsbRun extends TraceResult {
  command: string;
  wallMs: number;
}

/**
 * Runs the YCSB client against BasicDB with enough operations for the shape and converts what
 * it prints. Needs the jars (installYcsb) and java.
 */
export function runYcsb(opts: Partial<YcsbOptions> & { distribution: RequestDistribution }, lib = ycsbLibDir()): YcsbRun {
  const o: YcsbOptions = { ...DEFAULT_YCSB, ...opts, shape: { ...DEFAULT_SHAPE, ...opts.shape }, props: { ...opts.props } };
  if (!ycsbInstalled(lib)) throw new UnavailableError(`YCSB jars not installed in ${lib} (run: shardcast trace ycsb --install)`);
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : which('java');
  if (!java) throw new UnavailableError('java not found: install a Java runtime to run YCSB');
  const args = ['-cp', `${lib}${path.sep}*`, ...clientArgs(o, totalOps(o.shape))];
  const out = path.join(os.tmpdir(), `shardcast-ycsb-${process.pid}-${Date.now()}.out`);
  const fd = openSync(out, 'w');
  const t0 = performance.now();
  try {
    const r = spawnSync(java, args, { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 10 * 60_000 });
    closeSync(fd);
    if (r.status !== 0)
      throw new UnavailableError(
        `YCSB client failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`,
      );
    const ops: YcsbOp[] = [];
    forEachLine(out, (line) => {
      const op = parseBasicDbLine(line);
      if (op) ops.push(op);
    });
    const trace = buildTrace(ops, o.shape);
    return { ...trace, command: `java ${args.join(' ')}`, wallMs: Math.round(performance.now() - t0) };
  } finally {
    rmSync(out, { force: true });
  }
}

/**
 * The benchmark's YCSB traces as workloads, each made once and kept under
 * `<stackDir>/traces/` (keyed by its options), or null with the reason when YCSB is not
 * available (no jars and no Maven, no java, no network for the first fetch).
 */
export function ycsbWorkloads(
  log: (line: string) => void = () => {},
  stackDir = loadConfig().stackDir,
): { workloads: { workload: Workload; run: string }[] } | { skipped: string } {
  const lib = ycsbLibDir(stackDir);
  try {
    installYcsb(lib, log);
  } catch (err) {
    return { skipped: (err as Error).message };
  }
  const dir = path.join(stackDir, 'traces');
  mkdirSync(dir, { recursive: true });
  const workloads: { workload: Workload; run: string }[] = [];
  for (const t of BENCH_TRACES) {
    const o = { ...DEFAULT_YCSB, ...t.options, shape: DEFAULT_SHAPE };
    const file = path.join(dir, `${t.name}-${sha256(JSON.stringify(o)).slice(0, 12)}.csv`);
    let note = `cached ${path.relative(process.cwd(), file)}`;
    if (!existsSync(file)) {
      try {
        log(`ycsb: running the client for ${t.name}`);
        const r = runYcsb(t.options, lib);
        writeFileSync(file, r.csv);
        note = `${r.ops} YCSB operations in ${(r.wallMs / 1000).toFixed(1)} s → ${path.relative(process.cwd(), file)}`;
      } catch (err) {
        return { skipped: (err as Error).message };
      }
    }
    const w = parseTrace(readFileSync(file, 'utf8'), { name: t.name });
    w.description = `YCSB ${o.distribution}, ${o.records} records, ${Math.round(o.readProportion * 100)}% reads${o.insertProportion ? `, ${Math.round(o.insertProportion * 100)}% inserts` : ''}, time from operation order at a business-day rate; ${w.description}`;
    workloads.push({ workload: w, run: note });
  }
  return { workloads };
}
