/**
 * Metric samples as forecast series: a sample of a planned metric becomes the value of its
 * series in the window it falls in (the last sample of a window wins, as a rate is a level, not
 * a count). Series are `<source>|<node>|<metric>`, e.g. `kafka|orders-events|topic.records_in_total`,
 * so the decide stage tells them from the query-count series of tables by their metric part.
 */
import type { MetricSample } from '../../schemas/types.js';
import type { Observation } from './rounds.js';

/** The metrics forecast (others are published and sunk, not forecast). */
export const FORECAST_METRICS: ReadonlySet<string> = new Set(['topic.records_in_total']);

/** Whether a (forecast) series is a metric series rather than a table's query counts. */
export const isMetricSeries = (seriesId: string) => FORECAST_METRICS.has(seriesId.split('|')[2] ?? '');

export const metricSeriesId = (source: string, node: string, metric: string) => `${source}|${node}|${metric}`;

/** The observation of a sample, or null for a metric that is not forecast or a value that is not a number. */
export function metricObservation(m: MetricSample, stepMs: number): Observation | null {
  if (!FORECAST_METRICS.has(m.metric) || !Number.isFinite(m.value)) return null;
  return {
    source: m.source,
    seriesId: metricSeriesId(m.source, m.node, m.metric),
    windowStart: Math.floor(m.ts / stepMs) * stepMs,
    queries: m.value,
  };
}
