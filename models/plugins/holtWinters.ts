/**
 * Holt-Winters as a model of the online forecaster: a per-series state updated with every
 * observation (O(1) per step), its parameters refitted on a schedule within a per-step budget
 * of fit work (observations run through the recursions, so the fits done do not depend on the
 * machine's load), new series first.
 */
import { HoltWintersState, fitHoltWinters, type HWSnapshot } from '../baselines.js';
import type { ForecastModel, ModelContext } from '../model.js';
import type { SeriesState } from '../series.js';

interface HoltWintersSlot {
  hw: HoltWintersState | null;
  /** Newest step the state has consumed. */
  hwStep: number;
  hwFitAt: number;
  /** Observations the last fit had. */
  hwFitObs: number;
}

export function holtWintersModel(ctx: ModelContext): ForecastModel<HoltWintersSlot> {
  const { history, opts, index } = ctx;
  const H = opts.horizon;
  const naive = ctx.indexOf('seasonal_naive');
  const slot = (s: SeriesState): HoltWintersSlot => s.slots[index] as HoltWintersSlot;

  /** The last fit had a short history (fewer observations than a full fit window). */
  const provisional = (s: SeriesState, st: HoltWintersSlot): boolean => !!st.hw && st.hwFitObs < Math.max(200, 10 * s.season);
  /** The history has grown by half again since the last fit, which had a short history. */
  const grown = (s: SeriesState, st: HoltWintersSlot): boolean => provisional(s, st) && s.h.observed >= 1.5 * st.hwFitObs;

  /** Refits a series; returns the fit's work (observations run through the recursions). */
  function fit(s: SeriesState, st: HoltWintersSlot, now: number): number {
    const span = history.span(s.h);
    const x = new Float64Array(span);
    history.read(s.h, now, span, x);
    const m = s.season > 1 && span >= 2 * s.season + 2 ? s.season : 1;
    const { state, work } = fitHoltWinters(x, m);
    // A seasonal fit replacing a non-seasonal one is a different model, and so is any fit
    // replacing one made from a short history (its parameters and seasonal indices were
    // guesses from a season or two): judged by the old fit's errors it would stay set aside
    // when it is now the best, so its record and recent error start afresh, without the old
    // fit's pending forecasts. Refits on a full window change little and keep the record.
    if (st.hw && (st.hw.m !== state.m || provisional(s, st))) ctx.restartRecord(s, now);
    st.hw = state;
    st.hwStep = now;
    st.hwFitObs = s.h.observed;
    // Stagger refits so they spread over steps.
    st.hwFitAt = st.hwFitAt === -Infinity ? now - Math.floor(ctx.rand() * opts.hwRefitEvery) : now;
    return work;
  }

  return {
    name: 'holt_winters',
    initSeries: (step) => ({ hw: null, hwStep: step - 1, hwFitAt: -Infinity, hwFitObs: 0 }),
    seasonChanged(s) {
      const st = slot(s);
      st.hw = null;
      st.hwFitAt = -Infinity;
    },
    update(active, now) {
      const due: [SeriesState, HoltWintersSlot][] = [];
      for (const s of active) {
        const st = slot(s);
        if (st.hw) {
          for (let t = st.hwStep + 1; t <= now; t++) st.hw.update(history.at(s.h, t));
          st.hwStep = now;
        }
        // Refit on schedule, early when Holt-Winters has fallen well behind seasonal naive (a
        // shift), and as soon as the history first holds the two seasons a seasonal fit needs.
        const behind =
          naive >= 0 &&
          s.cnt[index]! >= H &&
          s.cnt[naive]! >= H &&
          s.err[index]! > 1.5 * s.err[naive]! &&
          now - st.hwFitAt >= Math.max(H, s.season);
        const seasonable = !!st.hw && st.hw.m !== s.season && s.season > 1 && history.span(s.h) >= 2 * s.season + 2;
        if (s.h.observed >= 4 && (!st.hw || now - st.hwFitAt >= opts.hwRefitEvery || behind || seasonable || grown(s, st)))
          due.push([s, st]);
      }
      due.sort(([, a], [, b]) => (a.hw ? 1 : 0) - (b.hw ? 1 : 0) || a.hwFitAt - b.hwFitAt);
      let fitted = 0;
      let work = 0;
      for (const [s, st] of due) {
        if (work > opts.hwFitBudget && st.hw) break;
        if (work > opts.hwFitBudget * 4) break;
        work += fit(s, st, now);
        fitted++;
      }
      return { hwFitted: fitted, hwFitWork: work };
    },
    forecast: (series) => series.map((s) => slot(s).hw?.forecast(H)),
    fallbackScale: (s) => slot(s).hw?.mae,
    snapshot(s) {
      const st = slot(s);
      return { hw: st.hw ? st.hw.toJSON() : null, hwStep: st.hwStep, hwFitAt: st.hwFitAt, hwFitObs: st.hwFitObs };
    },
    restore(snap, observed) {
      const hw = snap.hw as HWSnapshot | null | undefined;
      return {
        hw: hw ? HoltWintersState.fromJSON(hw) : null,
        hwStep: snap.hwStep as number,
        // A checkpoint writes -Infinity as null.
        hwFitAt: typeof snap.hwFitAt === 'number' ? snap.hwFitAt : -Infinity,
        hwFitObs: typeof snap.hwFitObs === 'number' ? snap.hwFitObs : observed,
      };
    },
  };
}
