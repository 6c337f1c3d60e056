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

interface NodeShape {
  capacity: number;
  activeFrom: number;
  activeUntil: number;
}

/** Overload and headroom capacity-minutes of one node timeline. */
export function nodePenalty(
  load: ArrayLike<number>,
  n: NodeShape,
  targetUtil: number,
  stepMin: number,
): { overload: number; headroom: number } {
  const sums = { overload: 0, headroom: 0 };
  for (let k = 0; k < load.length; k++) addStep(sums, load[k]!, k, n, targetUtil);
  return { overload: sums.overload * stepMin, headroom: sums.headroom * stepMin };
}

/**
 * nodePenalty(load + delta, after) − nodePenalty(load, before) in one pass, without building the
 * changed timeline: the planner asks this of every candidate on every node it touches.
 */
export function penaltyChange(
  load: ArrayLike<number>,
  delta: ArrayLike<number>,
  before: NodeShape,
  after: NodeShape,
  targetUtil: number,
  stepMin: number,
): { overload: number; headroom: number } {
  const was = { overload: 0, headroom: 0 },
    now = { overload: 0, headroom: 0 };
  for (let k = 0; k < load.length; k++) {
    addStep(was, load[k]!, k, before, targetUtil);
    addStep(now, load[k]! + delta[k]!, k, after, targetUtil);
  }
  return {
    overload: now.overload * stepMin - was.overload * stepMin,
    headroom: now.headroom * stepMin - was.headroom * stepMin,
  };
}

/** One step's overload and headroom, in capacity units (a node not active carries all its load as both). */
function addStep(sums: { overload: number; headroom: number }, l: number, k: number, n: NodeShape, targetUtil: number): void {
  if (l <= 0) return;
  const cap = k >= n.activeFrom && k < n.activeUntil ? n.capacity : 0;
  if (cap === 0) {
    sums.overload += l / n.capacity;
    sums.headroom += l / n.capacity;
    return;
  }
  if (l > cap) sums.overload += (l - cap) / cap;
  if (l > targetUtil * cap) sums.headroom += (l - targetUtil * cap) / cap;
}
