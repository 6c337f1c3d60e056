/**
 * The global tfjs network as a model of the online forecaster: no per-series state; trained on
 * a schedule on recent windows of the active series (plus older ones replayed against
 * forgetting), and forecasting every series in one batch. Cold start: it forecasts only once
 * trained, and the ensemble weighs it only once its forecasts have matured.
 */
import { GlobalModel } from '../global.js';
import type { ForecastModel, ModelContext } from '../model.js';
import { seasonHintOf } from '../options.js';
import type { SeriesState } from '../series.js';

export interface GlobalForecastModel extends ForecastModel<null> {
  /** The network (null when disabled by `global: false`). */
  readonly net: GlobalModel | null;
  /** Fits the network on every window of the series' histories (warm start, e.g. after a backfill). */
  warmFit(
    series: Iterable<SeriesState>,
    epochs: number,
    opts?: { stride?: number; maxPerSeries?: number; batchSize?: number },
  ): Promise<{ windows: number; loss: number }>;
}

export function globalModel(ctx: ModelContext): GlobalForecastModel {
  const { history, opts } = ctx;
  const H = opts.horizon;
  const net =
    opts.global === false
      ? null
      : new GlobalModel({ lags: opts.lags, horizon: H, season: seasonHintOf(opts), seed: opts.seed, ...opts.global });

  /** Builds this step's training windows and fits the network; returns the rows trained on. */
  async function train(g: GlobalModel, active: readonly SeriesState[], now: number): Promise<number> {
    const { recentPerSeries, replayPerSeries, maxBatch, epochs } = opts.train;
    const L = g.lags;
    const minObs = Math.max(H + 4, Math.min(L, 2 * Math.max(1, ...active.slice(0, 1).map((s) => s.season))) / 2);
    let pool = active.filter((s) => s.h.observed >= minObs);
    const per = recentPerSeries + replayPerSeries;
    if (pool.length * per > maxBatch) {
      const keep = Math.max(1, Math.floor(maxBatch / per));
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(ctx.rand() * (i + 1));
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      pool = pool.slice(0, keep);
    }
    const x = new Float32Array(pool.length * per * L);
    const y = new Float32Array(pool.length * per * H);
    let n = 0;
    for (const s of pool) {
      const newest = now - H;
      const oldest = Math.max(s.h.firstStep + Math.floor(L / 4), now - history.maxLength + L);
      if (newest < oldest) continue;
      for (let k = 0; k < per; k++) {
        const end = k < recentPerSeries ? newest - k : oldest + Math.floor(ctx.rand() * (newest - oldest + 1));
        if (end < oldest) continue;
        history.read(s.h, end, L, x, n * L);
        history.read(s.h, end + H, H, y, n * H);
        n++;
      }
    }
    if (!n) return 0;
    await g.fit({ x, y, n }, epochs, ctx.steps());
    return n;
  }

  return {
    name: 'global',
    net,
    initSeries: () => null,
    async update(active, now, repeat) {
      if (!net || repeat || ctx.steps() % opts.train.every !== 0) return { trainRows: 0 };
      return { trainRows: await train(net, active, now) };
    },
    async forecast(series, now) {
      const out: (number[] | undefined)[] = new Array(series.length).fill(undefined);
      if (!net || net.steps === 0) return out;
      const minObs = Math.min(net.lags / 2, Math.max(H, 8));
      const rows: number[] = [];
      for (const [i, s] of series.entries()) if (s.h.observed >= minObs) rows.push(i);
      const x = new Float32Array(rows.length * net.lags);
      for (const [r, i] of rows.entries()) history.read(series[i]!.h, now, net.lags, x, r * net.lags);
      const pred = await net.predict(x, rows.length);
      for (const [r, i] of rows.entries()) if (!pred.empty[r]) out[i] = Array.from(pred.point.subarray(r * H, (r + 1) * H));
      return out;
    },
    async warmFit(series, epochs, fitOpts = {}) {
      if (!net) return { windows: 0, loss: NaN };
      const values: Float32Array[] = [];
      for (const s of series) {
        const span = history.span(s.h);
        const x = new Float32Array(span);
        history.read(s.h, s.h.lastStep, span, x);
        values.push(x);
      }
      const w = GlobalModel.windowsFrom(values, net.lags, net.horizon, fitOpts);
      let loss = NaN;
      for (let e = 0; e < epochs; e++)
        loss = await net.fit(w, 1, e, fitOpts.batchSize ?? Math.max(64, Math.min(net.batchSize, Math.ceil(w.n / 16))));
      return { windows: w.n, loss };
    },
  };
}

/** Whether a model of the list is the global network. */
export function isGlobalModel(m: ForecastModel): m is GlobalForecastModel {
  return m.name === 'global' && 'warmFit' in m;
}
