/**
 * Key drift as a model of the online forecaster. A hot key range that moves along the keys (a
 * rolling working set, time-ordered keys) reaches each key bucket as a bump that no model of the
 * bucket's own series can see coming; the buckets beside it saw it first. This model reads a
 * table's buckets side by side (placed by `opts.keyOrder`, the stage's naming of buckets): each
 * step it measures how far the table's profile of load above its common level has moved along
 * the buckets over the last `horizon` steps, and where that shift is clear it forecasts each
 * bucket as its recent level plus what the profile, moved on at the same speed, brings it. Where
 * no clear shift is seen it has no forecast; series by series, the ensemble's records decide
 * whether its forecasts earn a place beside the anchor. It keeps no state of its own: each step
 * is computed from the history, so checkpoints need nothing from it.
 */
import type { ForecastModel, ModelContext } from '../model.js';
import type { SeriesState } from '../series.js';
import { quantile } from '../util.js';

/** Steps averaged into a profile (the per-bucket noise averages out; the profile lags by half of it). */
const SMOOTH = 5;
/** Fewest buckets in a table for a profile to be read. */
const MIN_BUCKETS = 8;
/** Shifts tried: quarter buckets, up to a quarter of the table's buckets either way. */
const SHIFT_STEP = 0.25;
/** A shift is clear when the moved profile leaves at most this share of the unmoved one's squared error... */
const MAX_RESIDUAL = 0.5;
/** ...and the load above the common level is at least this share of the table's. */
const MIN_EXCESS_SHARE = 0.05;
/** Positions past this are not a key bucket's (ingest cuts a table into far fewer): such a series is left out. */
const MAX_POSITION = 4096;

/** A table's buckets as the model sees them in one step. */
interface Drift {
  /** Smoothed newest level per bucket position, and the part of it above the common level. */
  level: Float64Array;
  excess: Float64Array;
  /** Buckets per step the excess moves (signed: towards higher keys when positive). */
  speed: number;
}

/** `e` read at position `x` (linear between buckets, 0 outside the table). */
function sampleAt(e: Float64Array, x: number): number {
  const i = Math.floor(x);
  const f = x - i;
  const a = i >= 0 && i < e.length ? e[i]! : 0;
  const b = i + 1 >= 0 && i + 1 < e.length ? e[i + 1]! : 0;
  return a * (1 - f) + b * f;
}

/** Squared distance between `now` and `before` moved by `d` buckets. */
function residual(now: Float64Array, before: Float64Array, d: number): number {
  let s = 0;
  for (let u = 0; u < now.length; u++) {
    const r = now[u]! - sampleAt(before, u - d);
    s += r * r;
  }
  return s;
}

/**
 * The profile over `SMOOTH` steps ending at `end` of the buckets `byPos` (position → series; a
 * missing bucket or window reads as the common level), split into level and excess over the
 * median bucket. Null when a bucket has no value in the span.
 */
function profile(ctx: ModelContext, byPos: (SeriesState | undefined)[], end: number): { level: Float64Array; excess: Float64Array } | null {
  const level = new Float64Array(byPos.length).fill(NaN);
  for (const [u, s] of byPos.entries()) {
    if (!s) continue;
    let sum = 0;
    let n = 0;
    for (let t = end - SMOOTH + 1; t <= end; t++) {
      const v = ctx.history.at(s.h, t);
      if (Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    if (n > 0) level[u] = sum / n;
  }
  const known = level.filter(Number.isFinite);
  if (known.length < MIN_BUCKETS) return null;
  const common = quantile(known, 0.5);
  for (let u = 0; u < level.length; u++) if (!Number.isFinite(level[u]!)) level[u] = common;
  return { level, excess: level.map((v) => Math.max(0, v - common)) };
}

/** The shift of a table's excess profile over the last `lag` steps, when one is clear. */
function driftOf(ctx: ModelContext, byPos: (SeriesState | undefined)[], now: number, lag: number): Drift | null {
  const cur = profile(ctx, byPos, now);
  const old = profile(ctx, byPos, now - lag);
  if (!cur || !old) return null;
  const mass = (x: Float64Array) => x.reduce((a, b) => a + b, 0);
  const excess = mass(cur.excess);
  if (excess <= MIN_EXCESS_SHARE * mass(cur.level) || excess > 2 * mass(old.excess) || 2 * excess < mass(old.excess)) return null;
  const still = residual(cur.excess, old.excess, 0);
  const maxShift = Math.floor(byPos.length / 4);
  let best = 0;
  let bestRes = still;
  for (let d = -maxShift; d <= maxShift; d += SHIFT_STEP) {
    const r = residual(cur.excess, old.excess, d);
    if (r < bestRes) {
      bestRes = r;
      best = d;
    }
  }
  if (Math.abs(best) < 2 * SHIFT_STEP || bestRes > MAX_RESIDUAL * still) return null;
  return { level: cur.level, excess: cur.excess, speed: best / lag };
}

export function keyDriftModel(ctx: ModelContext): ForecastModel<null> {
  const { opts } = ctx;
  const H = opts.horizon;
  /** This step's drifts, by series: set in `update`, read by `forecast`. */
  let drifts = new Map<SeriesState, { drift: Drift; position: number }>();
  return {
    name: 'key_drift',
    initSeries: () => null,
    update(active, now): Record<string, number> {
      drifts = new Map();
      const order = opts.keyOrder;
      if (!order) return {};
      const groups = new Map<string, (SeriesState | undefined)[]>();
      for (const s of active) {
        const at = order(s.h.id);
        if (!at || at.position < 0 || at.position > MAX_POSITION) continue;
        const g = groups.get(at.group) ?? [];
        g[at.position] = s;
        groups.set(at.group, g);
      }
      let drifting = 0;
      for (const byPos of groups.values()) {
        const positions = Array.from(byPos); // holes (buckets without a series) become undefined
        if (positions.filter(Boolean).length < MIN_BUCKETS) continue;
        const drift = driftOf(ctx, positions, now, H);
        if (!drift) continue;
        drifting++;
        for (const [position, s] of positions.entries()) if (s) drifts.set(s, { drift, position });
      }
      return { driftingTables: drifting };
    },
    forecast(series) {
      return series.map((s) => {
        const d = drifts.get(s);
        if (!d) return undefined;
        const { level, excess, speed } = d.drift;
        const u = d.position;
        // the profile is centred (SMOOTH − 1) / 2 steps back: it moves on from there
        const lagged = (SMOOTH - 1) / 2;
        return Array.from({ length: H }, (_, k) => level[u]! - excess[u]! + sampleAt(excess, u - speed * (k + 1 + lagged)));
      });
    },
  };
}
