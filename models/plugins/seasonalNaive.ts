/** Seasonal naive as a model of the online forecaster: no state, no fit; it reads the series' history. */
import { seasonalNaiveAt } from '../baselines.js';
import type { ForecastModel, ModelContext } from '../model.js';
import type { SeriesState } from '../series.js';

export function seasonalNaiveModel(ctx: ModelContext): ForecastModel<null> {
  const { history, opts } = ctx;
  return {
    name: 'seasonal_naive',
    initSeries: () => null,
    update: () => ({}),
    forecast: (series: readonly SeriesState[], now: number) =>
      series.map((s) => seasonalNaiveAt((t) => history.at(s.h, t), now - history.maxLength + 1, now, opts.horizon, s.season)),
  };
}
