/**
 * The daily profile as a model of the online forecaster. Load that follows the time of day
 * (business hours, a nightly batch) repeats a day later, but at a short step a day is far longer
 * than the forecaster's history (1,440 one-minute or 8,640 ten-second windows against ~512 kept),
 * so neither seasonal naive nor Holt-Winters can see that season. This model keeps the last day
 * of each series in coarse bins (5 minutes) and forecasts each step as the same time yesterday,
 * scaled by how today's last half hour compares with yesterday's. It is idle where the step is
 * long enough for the history to hold two days (the other models see the season there), and for
 * a series until it has a day of bins; the ensemble admits it per series on its record.
 */
import type { ForecastModel, ModelContext } from '../model.js';
import type { SeriesState } from '../series.js';

const DAY_MS = 86_400_000;
const BIN_MS = 300_000;
/** Bins compared, today's against yesterday's, for the level (half an hour). */
const RATIO_BINS = 6;
/** How far today's level may scale yesterday's profile. */
const MIN_RATIO = 0.5;
const MAX_RATIO = 2;

interface DailySlot {
  /** Bin means by absolute bin index modulo the ring's length (NaN: no value in that bin). */
  bins: Float32Array;
  /** The bin being filled: its absolute index, sum and count so far. */
  bin: number;
  sum: number;
  n: number;
  /** First bin this series has a value for (absolute), and the newest step consumed. */
  first: number;
  step: number;
}

export function dailyProfileModel(ctx: ModelContext): ForecastModel<DailySlot | null> {
  const { history, opts, index } = ctx;
  const H = opts.horizon;
  const binSteps = Math.max(1, Math.round(BIN_MS / opts.stepMs));
  const perDay = Math.round(DAY_MS / (binSteps * opts.stepMs));
  // the short-history models see a daily season where two days fit in the history
  const enabled = perDay * binSteps * 2 > opts.historyLength && H < perDay * binSteps;
  const ring = perDay + RATIO_BINS + 2;
  const slot = (s: SeriesState) => s.slots[index] as DailySlot | null;
  const at = (st: DailySlot, b: number) => (b >= st.first && b < st.bin ? st.bins[((b % ring) + ring) % ring]! : NaN);

  /** Closes the bin being filled and any empty ones up to `next`. */
  function advance(st: DailySlot, next: number): void {
    for (let b = st.bin; b < next; b++) st.bins[((b % ring) + ring) % ring] = b === st.bin && st.n > 0 ? st.sum / st.n : NaN;
    st.bin = next;
    st.sum = 0;
    st.n = 0;
  }

  /** Yesterday's value at step `t` (linear between bin centres), NaN when unknown. */
  function yesterday(st: DailySlot, t: number): number {
    const p = t / binSteps - 0.5 - perDay;
    const b = Math.floor(p);
    const f = p - b;
    const a = at(st, b);
    const c = at(st, b + 1);
    if (Number.isFinite(a) && Number.isFinite(c)) return a * (1 - f) + c * f;
    return Number.isFinite(a) ? a : c;
  }

  function mean(st: DailySlot, from: number, to: number): number {
    let sum = 0;
    let n = 0;
    for (let b = from; b < to; b++) {
      const v = at(st, b);
      if (Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    return n > 0 ? sum / n : NaN;
  }

  return {
    name: 'daily_profile',
    initSeries: (step) =>
      enabled
        ? {
            bins: new Float32Array(ring).fill(NaN),
            bin: Math.floor(step / binSteps),
            sum: 0,
            n: 0,
            first: Math.floor(step / binSteps),
            step: step - 1,
          }
        : null,
    update(active, now) {
      for (const s of active) {
        const st = slot(s);
        if (!st) continue;
        for (let t = st.step + 1; t <= now; t++) {
          const b = Math.floor(t / binSteps);
          if (b !== st.bin) advance(st, b);
          const v = history.at(s.h, t);
          if (Number.isFinite(v)) {
            st.sum += v;
            st.n++;
          }
        }
        st.step = Math.max(st.step, now);
      }
      return {};
    },
    forecast: (series, now) =>
      series.map((s) => {
        const st = slot(s);
        if (!st || st.bin - st.first < perDay + RATIO_BINS) return undefined;
        const today = mean(st, st.bin - RATIO_BINS, st.bin);
        const before = mean(st, st.bin - RATIO_BINS - perDay, st.bin - perDay);
        const ratio = before > 1e-9 && Number.isFinite(today) ? Math.min(MAX_RATIO, Math.max(MIN_RATIO, today / before)) : 1;
        const out = Array.from({ length: H }, (_, k) => ratio * yesterday(st, now + k + 1));
        return out.every(Number.isFinite) ? out : undefined;
      }),
    snapshot(s) {
      const st = slot(s);
      if (!st) return {};
      return {
        dailyBins: Array.from(st.bins, (v) => (Number.isFinite(v) ? v : null)),
        dailyBin: st.bin,
        dailySum: st.sum,
        dailyN: st.n,
        dailyFirst: st.first,
        dailyStep: st.step,
      };
    },
    restore(snap) {
      const bins = snap.dailyBins as (number | null)[] | undefined;
      if (!enabled || !Array.isArray(bins) || bins.length !== ring) return null;
      return {
        bins: Float32Array.from(bins, (v) => (typeof v === 'number' ? v : NaN)),
        bin: snap.dailyBin as number,
        sum: snap.dailySum as number,
        n: snap.dailyN as number,
        first: snap.dailyFirst as number,
        step: snap.dailyStep as number,
      };
    },
  };
}
