/**
 * The cost model's terms: a plan is scored as overload + lost headroom + node-minutes + bytes
 * moved + storage + cross-node co-access + actions + partition overhead, each in its own unit
 * (capacity-minutes, GiB, ...) and weighted by the config.
 */
import type { Weights } from './config.js';

export const GiB = 1024 ** 3;

export interface ScoreParts {
  overload: number;
  headroom: number;
  nodeMinutes: number;
  gbMoved: number;
  storageGbMinutes: number;
  actions: number;
  partitionMinutes: number;
  crossLoad: number;
}

export function zeroParts(): ScoreParts {
  return { overload: 0, headroom: 0, nodeMinutes: 0, gbMoved: 0, storageGbMinutes: 0, actions: 0, partitionMinutes: 0, crossLoad: 0 };
}

export function totalScore(p: ScoreParts, w: Weights): number {
  return (
    w.overload * p.overload +
    w.headroom * p.headroom +
    w.nodeMinute * p.nodeMinutes +
    w.gbMoved * p.gbMoved +
    w.storageGbMinute * p.storageGbMinutes +
    w.action * p.actions +
    w.partitionMinute * p.partitionMinutes
  );
}

/** Overload and headroom capacity-minutes of one node timeline. */
export function nodePenalty(
  load: ArrayLike<number>,
  n: { capacity: number; activeFrom: number; activeUntil: number },
  targetUtil: number,
  stepMin: number,
): { overload: number; headroom: number } {
  let overload = 0,
    headroom = 0;
  for (let k = 0; k < load.length; k++) {
    const l = load[k]!;
    if (l <= 0) continue;
    const cap = k >= n.activeFrom && k < n.activeUntil ? n.capacity : 0;
    if (cap === 0) {
      overload += l / n.capacity;
      headroom += l / n.capacity;
      continue;
    }
    if (l > cap) overload += (l - cap) / cap;
    if (l > targetUtil * cap) headroom += (l - targetUtil * cap) / cap;
  }
  return { overload: overload * stepMin, headroom: headroom * stepMin };
}
