/**
 * How far the decide stage may trust its forecasts. Every forecast a round planned with is kept
 * until its points mature; when the windows they predicted have been observed, each point's
 * absolute error is set beside that of persistence (the load observed at the forecast's origin,
 * carried forward: what reactive rules act on). The skill is
 *
 *   skill = 1 − Σ |forecast − actual| / Σ |persistence − actual|
 *
 * over the matured points, each round's sums decayed with a half-life in rounds: 1 is perfect,
 * 0 no better than acting on the current load, below 0 worse. `trust` maps it linearly from
 * `noTrust` (0) to `fullTrust` (1), and `discount` moves each forecast that far from the current
 * load toward itself, so where forecasts fail (flash crowds, a regime change) the engine plans
 * on what it sees now, as the reactive rules do, instead of on a wide, late interval.
 *
 * Pure and bounded: times come in with the records; a series keeps at most its horizon of
 * pending forecasts, and observations older than the oldest pending origin are dropped.
 */
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import type { DecideConfig } from './config.js';
import { bucketSeries } from './series.js';

export type SkillOptions = DecideConfig['skill'];

/** Windows kept per series whatever is pending: a forecast's origin is one of the newest. */
const KEEP_NEWEST = 4;

interface Pending {
  /** The load at the forecast's origin window (persistence's prediction). */
  origin: number;
  /** Predicted value per point and the window it predicts, in point order. */
  ts: number[];
  predicted: number[];
  /** Index of the next point not yet matured. */
  next: number;
}

export class ForecastSkill {
  private readonly pending = new Map<string, Pending[]>();
  /** bucket series → window start → contributing series → queries. */
  private readonly observed = new Map<string, Map<number, Map<string, number>>>();
  /** bucket series → its newest window observed: no point past it has matured (no lookup needed). */
  private readonly newest = new Map<string, number>();
  private forecastError = 0;
  private persistenceError = 0;
  private matured = 0;
  private readonly decay: number;

  constructor(private readonly opts: SkillOptions) {
    this.decay = 0.5 ** (1 / opts.halfLifeRounds);
  }

  /** Observes one window of a key-bucket series (node totals and table-less series are not planned on). */
  observeAggregate(a: WorkloadAggregate): void {
    if (a.table === null) return;
    const id = bucketSeries(a.seriesId);
    const windows = this.observed.get(id) ?? new Map<number, Map<string, number>>();
    this.observed.set(id, windows);
    const parts = windows.get(a.windowStart) ?? new Map<string, number>();
    windows.set(a.windowStart, parts);
    parts.set(a.seriesId, a.queries); // a redelivered window replaces itself
    if (!(a.windowStart <= (this.newest.get(id) ?? Number.NEGATIVE_INFINITY))) this.newest.set(id, a.windowStart);
  }

  /** Remembers the forecasts a round planned with (bucket series, as the engine saw them). */
  track(forecasts: readonly Forecast[]): void {
    for (const f of forecasts) {
      const origin = this.valueAt(f.seriesId, f.originTs);
      if (origin === undefined || f.points.length === 0) continue;
      const list = this.pending.get(f.seriesId) ?? [];
      this.pending.set(f.seriesId, list);
      list.push({ origin, ts: f.points.map((p) => p.ts), predicted: f.points.map((p) => p.predicted), next: 0 });
      if (list.length > f.points.length) list.shift();
    }
  }

  /** Scores every point whose window has been observed; returns the skill after it. */
  update(): number | null {
    let fe = 0,
      pe = 0,
      n = 0;
    for (const [id, list] of this.pending) {
      const windows = this.observed.get(id);
      if (!windows) continue;
      const newest = this.newest.get(id) ?? Number.NEGATIVE_INFINITY;
      for (const p of list) {
        while (p.next < p.ts.length) {
          const ts = p.ts[p.next]!;
          if (ts > newest) break;
          const actual = this.sum(windows.get(ts));
          if (actual === undefined) break;
          fe += Math.abs(p.predicted[p.next]! - actual);
          pe += Math.abs(p.origin - actual);
          n++;
          p.next++;
        }
      }
      const open = list.filter((p) => p.next < p.ts.length);
      if (open.length !== list.length) this.pending.set(id, open);
    }
    this.forecastError = this.decay * this.forecastError + fe;
    this.persistenceError = this.decay * this.persistenceError + pe;
    this.matured += n;
    this.prune();
    return this.skill;
  }

  /** The current skill; null until `minMatured` points have matured. */
  get skill(): number | null {
    if (this.matured < this.opts.minMatured || !(this.persistenceError > 0)) return null;
    return 1 - this.forecastError / this.persistenceError;
  }

  /** 0 … 1: how far plans follow the forecasts rather than the current load (1 while the skill is unknown). */
  get trust(): number {
    const s = this.skill;
    if (s === null) return 1;
    const { noTrust, fullTrust } = this.opts;
    return Math.min(1, Math.max(0, (s - noTrust) / (fullTrust - noTrust)));
  }

  private valueAt(id: string, windowStart: number): number | undefined {
    return this.sum(this.observed.get(id)?.get(windowStart));
  }

  private sum(parts: Map<string, number> | undefined): number | undefined {
    if (!parts) return undefined;
    let s = 0;
    for (const v of parts.values()) s += v;
    return s;
  }

  /** Drops windows no pending forecast can still need; the newest few stay (the next forecasts' origins). */
  private prune(): void {
    for (const [id, windows] of this.observed) {
      const starts = [...windows.keys()].sort((a, b) => a - b);
      const keepFrom = starts[Math.max(0, starts.length - KEEP_NEWEST)]!;
      const list = this.pending.get(id);
      const oldest = list?.length ? Math.min(keepFrom, ...list.map((p) => p.ts[p.next]!)) : keepFrom;
      for (const ws of starts) {
        if (ws >= oldest) break;
        windows.delete(ws);
      }
    }
  }
}

/**
 * Forecasts moved `1 − trust` of the way from themselves to the current load (point and bounds
 * alike): trust 1 leaves them as they are, 0 plans every step on the load observed now.
 */
export function discountForecasts(forecasts: readonly Forecast[], current: ReadonlyMap<string, number>, trust: number): Forecast[] {
  if (trust >= 1) return [...forecasts];
  return forecasts.map((f) => {
    const c = current.get(f.seriesId);
    if (c === undefined) return f;
    const toward = (v: number) => c + trust * (v - c);
    return {
      ...f,
      points: f.points.map((p) => ({ ...p, predicted: toward(p.predicted), lower: toward(p.lower), upper: toward(p.upper) })),
    };
  });
}
