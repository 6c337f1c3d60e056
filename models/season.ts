/**
 * Seasonality detection by autocorrelation. The series is linearly detrended and its gaps
 * mean-filled, then the autocorrelation function is computed at every candidate lag (all lags
 * 2..maxLag, or only the configured candidates, which keeps it cheap for many series). The
 * season is the lag of the highest local ACF peak above `minAcf`; a smaller lag that divides
 * it and is nearly as strong wins (a daily peak beats its weekly multiple unless the weekly
 * pattern adds real information).
 */
export interface SeasonOptions {
  /** Only these lags are considered (e.g. [24, 168] for hourly windows). */
  candidates?: number[];
  /** Largest lag scanned when no candidates are given (default: n/3, at most 400). */
  maxLag?: number;
  /** Minimum autocorrelation for a lag to count as seasonal (default 0.3). */
  minAcf?: number;
  /** A divisor lag within this much ACF of the best wins (default 0.05). */
  tolerance?: number;
}

/** Autocorrelation of `x` (already centred, no NaN) at `lag`. */
function acfAt(x: Float64Array, lag: number, denom: number): number {
  let s = 0;
  for (let i = lag; i < x.length; i++) s += x[i]! * x[i - lag]!;
  return s / denom;
}

/** Returns the detected season length in steps, or 1 when none is found. */
export function detectSeason(values: ArrayLike<number>, opts: SeasonOptions = {}): number {
  return pickSeason(acfProfile(values, opts), opts);
}

/**
 * One season for many series that share a step (workload series share the calendar): the
 * autocorrelation functions are averaged before the peak is picked, so noisy or sparse
 * series still agree on e.g. 24 for hourly windows.
 */
export function detectSeasonPooled(series: ArrayLike<number>[], opts: SeasonOptions = {}): number {
  const profiles = series.map((s) => acfProfile(s, opts)).filter((p) => p.size);
  if (!profiles.length) return 1;
  const sum = new Map<number, number>();
  const cnt = new Map<number, number>();
  for (const p of profiles)
    for (const [l, r] of p) {
      sum.set(l, (sum.get(l) ?? 0) + r);
      cnt.set(l, (cnt.get(l) ?? 0) + 1);
    }
  const avg = new Map<number, number>();
  for (const [l, v] of sum) if (cnt.get(l) === profiles.length) avg.set(l, v / profiles.length);
  return pickSeason(avg, { ...opts, minAcf: opts.minAcf ?? 0.2 });
}

/** ACF at every candidate lag (plus neighbours for the local-peak test); empty when too short. */
function acfProfile(values: ArrayLike<number>, opts: SeasonOptions): Map<number, number> {
  const out = new Map<number, number>();
  const n = values.length;
  // Least-squares line over the finite points.
  let sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0,
    k = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    sx += i;
    sy += v;
    sxx += i * i;
    sxy += i * v;
    k++;
  }
  if (k < 8) return out;
  const den = k * sxx - sx * sx;
  const slope = den > 0 ? (k * sxy - sx * sy) / den : 0;
  const icpt = (sy - slope * sx) / k;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    x[i] = Number.isFinite(v) ? v - (icpt + slope * i) : 0;
  }
  // Winsorise at median ± 5·MAD so bursts do not dominate the autocorrelation.
  const sorted = Float64Array.from(x).sort();
  const med = sorted[n >> 1]!;
  const dev = Float64Array.from(x, (v) => Math.abs(v - med)).sort();
  const mad = dev[n >> 1]! * 1.4826;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    if (mad > 0) x[i] = Math.min(Math.max(x[i]!, med - 5 * mad), med + 5 * mad);
    ss += x[i]! * x[i]!;
  }
  if (ss <= 0) return out;
  const maxLag = Math.min(opts.maxLag ?? Math.min(400, Math.floor(n / 3)), Math.floor(n / 2));
  const lags = (opts.candidates ?? Array.from({ length: Math.max(0, maxLag - 1) }, (_, i) => i + 2)).filter((l) => l >= 2 && l <= maxLag);
  for (const l of lags) for (const k2 of [l - 1, l, l + 1]) if (k2 >= 1 && k2 < n && !out.has(k2)) out.set(k2, acfAt(x, k2, ss));
  return out;
}

function pickSeason(acf: Map<number, number>, opts: SeasonOptions): number {
  const minAcf = opts.minAcf ?? 0.3;
  const tol = opts.tolerance ?? 0.05;
  const get = (l: number): number => acf.get(l) ?? -1;
  const lags = opts.candidates ? opts.candidates.filter((l) => acf.has(l)) : [...acf.keys()].filter((l) => l >= 2).sort((a, b) => a - b);
  const peaks: { lag: number; r: number }[] = [];
  for (const l of lags) {
    const r = get(l);
    if (r < minAcf) continue;
    // A candidate list is taken as given; a full scan needs a local maximum.
    if (!opts.candidates && !(acf.has(l + 1) && r >= get(l - 1) && r >= get(l + 1))) continue;
    peaks.push({ lag: l, r });
  }
  if (!peaks.length) return 1;
  let best = peaks[0]!;
  for (const p of peaks) if (p.r > best.r) best = p;
  for (const p of peaks.sort((a, b) => a.lag - b.lag)) {
    if (p.lag < best.lag && best.lag % p.lag === 0 && p.r >= best.r - tol) return p.lag;
  }
  return best.lag;
}
