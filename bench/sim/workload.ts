/**
 * Workloads for the cluster simulator: load per (table, key unit) per step, split into reads
 * and writes, plus optional co-access between key units. Key units are the simulator's key
 * buckets: partition ranges are [lo, hi) over unit indices.
 *
 * Generators are seeded and deterministic. Traces read from CSV are in trace.ts.
 */

export interface WorkloadTable {
  name: string;
  units: number;
  /** Key value at the start of unit 0 and past the end of the last unit (trace keys). */
  keyLo: number;
  keyHi: number;
}

export interface CoAccessEpoch {
  fromStep: number;
  toStep: number;
  /** [table index, unit, table index, unit, fraction of the first unit's reads that also touch the second] */
  pairs: [number, number, number, number, number][];
}

export interface Workload {
  name: string;
  description: string;
  stepMs: number;
  steps: number;
  startTs: number;
  tables: WorkloadTable[];
  /** Per table: reads[t * units + u]. */
  reads: Float64Array[];
  writes: Float64Array[];
  coAccess: CoAccessEpoch[];
  /** First step that counts in the metrics (history before it is warm-up for every policy). */
  evalStart: number;
  /** Bytes per key unit (partition size = units × unitBytes). */
  unitBytes: number;
  /** Workload family, for the benchmark's targets. */
  kind: 'periodic' | 'trend' | 'flash-crowd' | 'moving-hotspot' | 'co-access' | 'regime-change' | 'zipfian' | 'latest' | 'mixed' | 'trace';
}

import { rng } from '../../lib/rng.js';
export { rng };

export function gaussian(r: () => number): number {
  const u = Math.max(r(), 1e-12),
    v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function shuffle<T>(a: T[], r: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Zipf-like static popularity of units: weight ∝ 1/(rank+1)^s over a seeded permutation. */
export function zipfWeights(units: number, s: number, r: () => number): number[] {
  const ranks = shuffle([...Array(units).keys()], r);
  const w = ranks.map((k) => 1 / (k + 1) ** s);
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

export interface GenOptions {
  seed?: number;
  units?: number;
  /** Peak total load, in queries per step. */
  peak?: number;
  unitBytes?: number;
}

export interface Frame {
  w: Workload;
  set(table: number, t: number, u: number, total: number, readFrac?: number): void;
}

export function frame(
  name: string,
  kind: Workload['kind'],
  description: string,
  stepMs: number,
  steps: number,
  tables: string[],
  units: number,
  o: GenOptions,
  evalStart: number,
): Frame {
  const w: Workload = {
    name,
    kind,
    description,
    stepMs,
    steps,
    startTs: Date.UTC(2024, 0, 1),
    evalStart,
    tables: tables.map((n) => ({ name: n, units, keyLo: 0, keyHi: units })),
    reads: tables.map(() => new Float64Array(steps * units)),
    writes: tables.map(() => new Float64Array(steps * units)),
    coAccess: [],
    unitBytes: o.unitBytes ?? 1024 ** 3,
  };
  return {
    w,
    set(table, t, u, total, readFrac = 0.8) {
      const v = Math.max(0, total);
      w.reads[table]![t * units + u] = v * readFrac;
      w.writes[table]![t * units + u] = v * (1 - readFrac);
    },
  };
}

export const DAY_MIN = 1440;

const logistic = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Business-day shape in [0, 1]: quiet night; a morning ramp to 55% around 08:00 (most of it
 * within an hour); an afternoon peak to 100% around 14:00; an evening decline from 19:00.
 */
export function diurnal(minuteOfDay: number): number {
  const h = minuteOfDay / 60;
  const day = logistic((h - 8) / 0.35) * logistic((20 - h) / 0.8);
  const peak = Math.exp(-(((h - 14) / 2.2) ** 2) / 2);
  return Math.min(1, 0.55 * day + 0.45 * peak);
}

export function periodicDaily(o: GenOptions = {}): Workload {
  const r = rng(o.seed ?? 1),
    units = o.units ?? 64,
    peak = o.peak ?? 60_000;
  const steps = 3 * DAY_MIN;
  const f = frame(
    'periodic-daily',
    'periodic',
    '3 days, 1-min steps, business-day load (10% at night, 08:00 ramp, 14:00 peak), Zipf(0.6) keys',
    60_000,
    steps,
    ['orders', 'events'],
    units,
    o,
    DAY_MIN,
  );
  const shares = [0.6, 0.4];
  const pop = shares.map(() => zipfWeights(units, 0.6, r));
  for (let t = 0; t < steps; t++) {
    const level = peak * (0.1 + 0.9 * diurnal(t % DAY_MIN)) * (1 + 0.03 * gaussian(r));
    for (let ti = 0; ti < 2; ti++)
      for (let u = 0; u < units; u++) f.set(ti, t, u, level * shares[ti]! * pop[ti]![u]! * (1 + 0.05 * gaussian(r)));
  }
  return f.w;
}

export function periodicWeekly(o: GenOptions = {}): Workload {
  const r = rng(o.seed ?? 2),
    units = o.units ?? 64,
    peak = o.peak ?? 60_000;
  const stepMin = 10,
    perDay = DAY_MIN / stepMin,
    season = 7 * perDay,
    steps = 3 * season;
  const f = frame(
    'periodic-weekly',
    'periodic',
    '3 weeks, 10-min steps, diurnal × weekday load (weekends at 45%), Zipf(0.6) keys',
    stepMin * 60_000,
    steps,
    ['orders', 'events'],
    units,
    o,
    season,
  );
  const shares = [0.6, 0.4];
  const pop = shares.map(() => zipfWeights(units, 0.6, r));
  for (let t = 0; t < steps; t++) {
    const day = Math.floor(t / perDay) % 7;
    const week = day >= 5 ? 0.45 : 1;
    const level = peak * week * (0.1 + 0.9 * diurnal((t % perDay) * stepMin)) * (1 + 0.03 * gaussian(r));
    for (let ti = 0; ti < 2; ti++)
      for (let u = 0; u < units; u++) f.set(ti, t, u, level * shares[ti]! * pop[ti]![u]! * (1 + 0.05 * gaussian(r)));
  }
  return f.w;
}

export function trend(o: GenOptions = {}): Workload {
  const r = rng(o.seed ?? 3),
    units = o.units ?? 64,
    peak = o.peak ?? 60_000;
  const steps = 2 * DAY_MIN;
  const f = frame(
    'trend',
    'trend',
    '2 days, 1-min steps, load growing 30%→100% of peak with ±15% daily swing',
    60_000,
    steps,
    ['orders', 'events'],
    units,
    o,
    360,
  );
  const shares = [0.6, 0.4];
  const pop = shares.map(() => zipfWeights(units, 0.6, r));
  for (let t = 0; t < steps; t++) {
    const base = 0.3 + 0.6 * (t / steps);
    const level = peak * base * (1 + 0.15 * Math.sin((2 * Math.PI * t) / DAY_MIN)) * (1 + 0.03 * gaussian(r));
    for (let ti = 0; ti < 2; ti++)
      for (let u = 0; u < units; u++) f.set(ti, t, u, level * shares[ti]! * pop[ti]![u]! * (1 + 0.05 * gaussian(r)));
  }
  return f.w;
}

export function flashCrowd(o: GenOptions = {}): Workload {
  const r = rng(o.seed ?? 4),
    units = o.units ?? 64,
    peak = o.peak ?? 60_000;
  const steps = DAY_MIN;
  const f = frame(
    'flash-crowd',
    'flash-crowd',
    '1 day, 1-min steps, 40% baseline; 3 unannounced crowds (+30% of peak on 6 key units, 8-min ramp, 30-min hold, 20-min decay)',
    60_000,
    steps,
    ['orders', 'events'],
    units,
    o,
    120,
  );
  const shares = [0.6, 0.4];
  const pop = shares.map(() => zipfWeights(units, 0.6, r));
  const crowds = [0, 1, 2].map((i) => ({
    at: 200 + i * 400 + Math.floor(r() * 150),
    table: Math.floor(r() * 2),
    u0: Math.floor(r() * (units - 6)),
  }));
  for (let t = 0; t < steps; t++) {
    const level = peak * 0.4 * (1 + 0.03 * gaussian(r));
    for (let ti = 0; ti < 2; ti++) {
      for (let u = 0; u < units; u++) {
        let extra = 0;
        for (const c of crowds) {
          if (c.table !== ti || u < c.u0 || u >= c.u0 + 6) continue;
          const d = t - c.at;
          const shape = d < 0 ? 0 : d < 8 ? d / 8 : d < 38 ? 1 : d < 58 ? 1 - (d - 38) / 20 : 0;
          extra += (shape * 0.3 * peak) / 6;
        }
        f.set(ti, t, u, level * shares[ti]! * pop[ti]![u]! * (1 + 0.05 * gaussian(r)) + extra, extra > 0 ? 0.9 : 0.8);
      }
    }
  }
  f.w.description += ` (at steps ${crowds.map((c) => c.at).join(', ')})`;
  return f.w;
}

export function movingHotspot(o: GenOptions = {}): Workload {
  const r = rng(o.seed ?? 5),
    units = o.units ?? 64,
    peak = o.peak ?? 60_000;
  const steps = DAY_MIN;
  const f = frame(
    'moving-hotspot',
    'moving-hotspot',
    '1 day, 1-min steps, 45% uniform background + a Zipf(1.2) hot range (35% of peak) drifting 1 key unit per 8–16 min from a seeded start',
    60_000,
    steps,
    ['orders', 'events'],
    units,
    o,
    120,
  );
  const shares = [0.6, 0.4];
  const width = 8;
  const zipf = Array.from({ length: width }, (_, k) => 1 / (k + 1) ** 1.2);
  const zs = zipf.reduce((a, b) => a + b, 0);
  // the seed places the hot range and sets its speed (one key unit per 8 to 16 minutes)
  const start = Math.floor(r() * units),
    minutesPerUnit = 8 + 8 * r();
  for (let t = 0; t < steps; t++) {
    const center = (start + t / minutesPerUnit) % units;
    for (let ti = 0; ti < 2; ti++) {
      for (let u = 0; u < units; u++) {
        let hot = 0;
        if (ti === 0) {
          const d = Math.floor((u - center + units) % units); // distance ahead of the hot key
          const back = Math.floor((center - u + units) % units);
          const k = Math.min(d, back);
          if (k < width) hot = (0.35 * peak * zipf[k]!) / zs / 2;
        }
        f.set(ti, t, u, ((peak * 0.45 * shares[ti]!) / units) * (1 + 0.05 * gaussian(r)) + hot);
      }
    }
  }
  return f.w;
}

export function coAccessShift(o: GenOptions = {}): Workload {
  const r = rng(o.seed ?? 6),
    units = o.units ?? 32,
    peak = o.peak ?? 60_000;
  const steps = DAY_MIN;
  const f = frame(
    'co-access-shift',
    'co-access',
    '1 day, 1-min steps, steady 55% load; orders↔customers co-access (30% of orders reads) re-pairs every 6 h',
    60_000,
    steps,
    ['orders', 'customers'],
    units,
    o,
    120,
  );
  const shares = [0.6, 0.4];
  const pop = shares.map(() => zipfWeights(units, 0.4, r));
  for (let t = 0; t < steps; t++) {
    const level = peak * 0.55 * (1 + 0.03 * gaussian(r));
    for (let ti = 0; ti < 2; ti++)
      for (let u = 0; u < units; u++) f.set(ti, t, u, level * shares[ti]! * pop[ti]![u]! * (1 + 0.05 * gaussian(r)));
  }
  for (let e = 0; e * 360 < steps; e++) {
    const perm = shuffle([...Array(units).keys()], r);
    f.w.coAccess.push({
      fromStep: e * 360,
      toStep: Math.min(steps, (e + 1) * 360),
      pairs: perm.map((v, u) => [0, u, 1, v, 0.3] as [number, number, number, number, number]),
    });
  }
  return f.w;
}

export const SUITE: Record<string, (o?: GenOptions) => Workload> = {
  'periodic-daily': periodicDaily,
  'periodic-weekly': periodicWeekly,
  trend,
  'flash-crowd': flashCrowd,
  'moving-hotspot': movingHotspot,
  'co-access-shift': coAccessShift,
};

/** Total load (reads + writes) per step. */
export function totalPerStep(w: Workload): Float64Array {
  const out = new Float64Array(w.steps);
  w.tables.forEach((tb, ti) => {
    for (let t = 0; t < w.steps; t++) {
      let s = 0;
      for (let u = 0; u < tb.units; u++) s += w.reads[ti]![t * tb.units + u]! + w.writes[ti]![t * tb.units + u]!;
      out[t]! += s;
    }
  });
  return out;
}
