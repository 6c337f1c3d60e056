/**
 * Generated accuracy suite for the forecaster: hourly windows, six weeks, each series one
 * behaviour real telemetry shows. Deterministic (seeded).
 */
import { rng } from '../models/util.js';
import type { EvalSeries } from '../models/evaluate.js';

export interface SuiteSeries extends EvalSeries {
  /** Has a seasonal pattern (the Holt-Winters comparison applies). */
  seasonal: boolean;
  description: string;
}

function gauss(r: () => number): number {
  const u = Math.max(r(), 1e-12),
    v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function poisson(r: () => number, lambda: number): number {
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gauss(r)));
  const L = Math.exp(-lambda);
  let k = 0,
    p = 1;
  do {
    k++;
    p *= r();
  } while (p > L);
  return k - 1;
}

/** Daily load shape in [0, 1]: quiet night, morning ramp, afternoon peak. */
function daily(hour: number): number {
  const x = (hour % 24) / 24;
  return 0.5 - 0.5 * Math.cos(2 * Math.PI * (x - 0.1)) + 0.15 * Math.sin(4 * Math.PI * x);
}

export function generateSuite(opts: { weeks?: number; seed?: number } = {}): SuiteSeries[] {
  const T = 24 * 7 * (opts.weeks ?? 6);
  const r = rng(opts.seed ?? 2024);
  const mk = (id: string, description: string, seasonal: boolean, f: (t: number) => number): SuiteSeries => ({
    id,
    description,
    seasonal,
    values: Float64Array.from({ length: T }, (_, t) => f(t)),
  });
  const out: SuiteSeries[] = [];
  out.push(mk('daily', 'daily season + Gaussian noise', true, (t) => 100 + 60 * daily(t) + 5 * gauss(r)));
  out.push(
    mk('daily_weekly', 'daily season, weekends at 40% + noise', true, (t) => {
      const dow = Math.floor(t / 24) % 7;
      return (dow >= 5 ? 0.4 : 1) * (80 + 120 * daily(t)) + 6 * gauss(r);
    }),
  );
  out.push(mk('trend', 'daily season + upward trend + noise', true, (t) => 50 + 0.08 * t + 40 * daily(t) + 4 * gauss(r)));
  out.push(
    mk(
      'level_shift',
      'daily season, level ×1.8 from 60% of the span',
      true,
      (t) => (t > 0.6 * T ? 1.8 : 1) * (60 + 50 * daily(t)) + 4 * gauss(r),
    ),
  );
  for (let k = 0; k < 3; k++) {
    // A hot key range moving across the three buckets through the day (8 h each).
    out.push(
      mk(`hotspot_k${k}`, `moving hotspot, bucket ${k} of 3`, true, (t) => {
        const hour = t % 24;
        const hot = Math.floor(hour / 8) === k ? 150 : 0;
        return poisson(r, 20 + hot * (0.6 + 0.4 * daily(t)));
      }),
    );
  }
  out.push(
    mk(
      'noise',
      'no season: level + noise (random walk drift)',
      false,
      (() => {
        let lvl = 200;
        return () => {
          lvl += 0.5 * gauss(r);
          return lvl + 10 * gauss(r);
        };
      })(),
    ),
  );
  out.push(
    mk(
      'bursts',
      'daily season + random bursts ×3 (2% of hours)',
      true,
      (() => {
        let burst = 0;
        return (t: number) => {
          if (burst <= 0 && r() < 0.02) burst = 1 + Math.floor(r() * 3);
          const b = burst-- > 0 ? 3 : 1;
          return b * (70 + 60 * daily(t)) + 5 * gauss(r);
        };
      })(),
    ),
  );
  out.push(
    mk('sparse_counts', 'low Poisson counts with many zeros, daily season, 3% gaps', true, (t) =>
      r() < 0.03 ? NaN : poisson(r, 0.3 + 4 * daily(t)),
    ),
  );
  // Gaps in one dense series too.
  const d = out[0]!.values as Float64Array;
  for (let t = 0; t < T; t++) if (r() < 0.02) d[t] = NaN;
  return out;
}
