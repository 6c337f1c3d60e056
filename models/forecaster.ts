/**
 * The one interface every forecasting model implements, so the forecast pipeline, the
 * evaluation command and the cluster simulator's predictive policy can use any of them.
 */
export interface SeriesForecast {
  /** predicted[h-1] is the forecast h steps after the last observation. */
  predicted: number[];
  lower: number[];
  upper: number[];
  model: string;
}

export interface ForecastRequest {
  /** Observations, oldest first, one per step; NaN marks a gap. */
  history: ArrayLike<number>;
  horizon: number;
  /** Season length in steps, when known or configured. */
  season?: number;
}

export interface Forecaster {
  readonly name: string;
  /** Forecasts many series at once; a batched model does them in one pass. */
  forecastBatch(requests: ForecastRequest[]): Promise<SeriesForecast[]> | SeriesForecast[];
}
