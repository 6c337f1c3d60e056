/**
 * Which key buckets take writes at keys that keep growing, window after window: the sign of an
 * append key (a sequence, a timestamp) at the top of a table whose last bucket is unbounded, where
 * no empty key space above the frontier shows it (actions/appendHotSpot.ts).
 *
 * Ingest reports, per series and window, the smallest and largest numeric key its writes named
 * (`writeKeyMin`, `writeKeyMax`): order-free, so the parts of one window from several ingest
 * instances merge. A bucket grows when each window's smallest written key is at or above the
 * previous window's largest, up to `OVERLAP` of that window's span (writers that take keys in
 * order but commit a little out of it); random or hot keys overlap from window to window.
 */
import type { WorkloadAggregate } from '../../schemas/types.js';
import { bucketSeries } from './series.js';

/** Share of the previous window's written key span the next window may reach back into. */
const OVERLAP = 0.1;
/** Windows in a row whose written keys moved up before a bucket counts as growing. */
export const GROWING_WINDOWS = 3;

interface Track {
  window: number;
  min: number;
  max: number;
  /** The largest key of the window before `window`, and its span (null: none seen). */
  prevMax: number | null;
  prevSpan: number;
  streak: number;
}

export class KeyGrowth {
  private readonly tracks = new Map<string, Track>();

  observe(a: WorkloadAggregate): void {
    const min = a.writeKeyMin,
      max = a.writeKeyMax;
    if (min === null || min === undefined || max === null || max === undefined) return;
    const id = bucketSeries(a.seriesId);
    const t = this.tracks.get(id);
    if (!t) {
      this.tracks.set(id, { window: a.windowStart, min, max, prevMax: null, prevSpan: 0, streak: 0 });
      return;
    }
    if (a.windowStart < t.window) return; // a late part of a window already judged
    if (a.windowStart === t.window) {
      t.min = Math.min(t.min, min);
      t.max = Math.max(t.max, max);
      return;
    }
    // a newer window: judge the one that closed against the one before it
    if (t.prevMax !== null) t.streak = t.min >= t.prevMax - OVERLAP * t.prevSpan ? t.streak + 1 : 0;
    Object.assign(t, { prevMax: t.max, prevSpan: t.max - t.min, window: a.windowStart, min, max });
  }

  /** Bucket series (`source|table|bucket`) whose written keys moved up for GROWING_WINDOWS windows in a row. */
  growing(): Set<string> {
    return new Set([...this.tracks].filter(([, t]) => t.streak >= GROWING_WINDOWS).map(([id]) => id));
  }
}
