/**
 * The online forecaster's intervals: normalised split-conformal. For each model and horizon the
 * calibrator pools the scores |error| / localScale over all series (localScale = that series'
 * recent error of that model at issue time, at least its recent seasonal change: see
 * `localScale` in scoring.ts), and the half-width is quantile_{level}(scores) × localScale. An
 * adaptive-conformal correction (Gibbs & Candès 2021) nudges the quantile level by the
 * observed miss rate so coverage tracks the nominal level when the data drift.
 */

import { InputError } from '../lib/errors.js';
import { quantileAbove, quantileInPlace } from './util.js';

export interface CalibratorSnapshot {
  models: number;
  horizon: number;
  level: number;
  capacity: number;
  scores: number[][];
  alphaEff: number[];
}

/** Largest normalised score a calibrator keeps (see `add`). */
const MAX_SCORE = 25;
/** Share of the last factor under which scores are not selected among (`quantileAbove`). */
const FLOOR_SHARE = 0.8;
/** Scores a (model, horizon) needs before its factor replaces the fallback. */
const MIN_SCORES = 30;

/** Pooled normalised-conformal calibrator, one score ring per (model, horizon). */
export class ConformalCalibrator {
  private readonly rings: Float32Array[];
  private readonly fill: Int32Array;
  private readonly pos: Int32Array;
  /** Adaptive miscoverage target per (model, horizon). */
  readonly alphaEff: Float64Array;
  private readonly factors: Float64Array;
  private readonly misses: Float64Array;
  private readonly seen: Float64Array;
  private dirty = true;
  /** The window being selected in (the rings keep their order). */
  private readonly scratch: Float64Array;

  constructor(
    readonly models: number,
    readonly horizon: number,
    readonly level = 0.9,
    readonly capacity = 2048,
    /** Adaptive-conformal step size (0 disables). */
    readonly gamma = 0.02,
    /** Factor used before any score exists (≈ z for a Gaussian scale estimate). */
    readonly fallback = 2.0,
  ) {
    const k = models * horizon;
    this.rings = Array.from({ length: k }, () => new Float32Array(capacity));
    this.fill = new Int32Array(k);
    this.pos = new Int32Array(k);
    this.alphaEff = new Float64Array(k).fill(1 - level);
    this.factors = new Float64Array(k).fill(fallback);
    this.misses = new Float64Array(k);
    this.seen = new Float64Array(k);
    this.scratch = new Float64Array(capacity);
  }

  /** Records one matured forecast's normalised score |err|/scale for (model, h in 1..H). */
  add(model: number, h: number, score: number): void {
    if (!Number.isFinite(score)) return;
    // An error many times a series' own scale is a regime change (a series that was flat, then
    // started), not a calibration fact: pooled, a few of them would widen every series' interval
    // by orders of magnitude. Capped, they still count as misses of any reasonable factor.
    score = Math.min(score, MAX_SCORE);
    const i = model * this.horizon + (h - 1);
    const ring = this.rings[i]!;
    ring[this.pos[i]!] = score;
    this.pos[i] = (this.pos[i]! + 1) % this.capacity;
    if (this.fill[i]! < this.capacity) this.fill[i]!++;
    this.seen[i]!++;
    if (score > this.factors[i]!) this.misses[i]!++;
    this.dirty = true;
  }

  /** Recomputes the factors (call once per step, after the adds). */
  update(): void {
    if (!this.dirty) return;
    const target = 1 - this.level;
    for (let i = 0; i < this.rings.length; i++) {
      const n = this.fill[i]!;
      if (this.gamma > 0 && this.seen[i]! > 0) {
        const missRate = this.misses[i]! / this.seen[i]!;
        this.alphaEff[i] = Math.min(Math.max(this.alphaEff[i]! + this.gamma * (target - missRate), target / 4), Math.min(0.5, target * 3));
        this.misses[i] = 0;
        this.seen[i] = 0;
      }
      if (n < MIN_SCORES) continue;
      // Finite-sample conformal rank.
      const q = Math.min(1, (1 - this.alphaEff[i]!) * (1 + 1 / n));
      const ring = this.rings[i]!;
      const near = quantileAbove(ring, n, q, this.factors[i]! * FLOOR_SHARE, this.scratch);
      if (near !== null) this.factors[i] = near;
      else {
        this.scratch.set(ring.subarray(0, n));
        this.factors[i] = quantileInPlace(this.scratch, n, q);
      }
    }
    this.dirty = false;
  }

  /** Half-width factor for (model, h): half-width = factor × local scale. */
  factor(model: number, h: number): number {
    return this.factors[model * this.horizon + (h - 1)]!;
  }

  /** Scores recorded so far for (model, h), up to capacity. */
  count(model: number, h: number): number {
    return this.fill[model * this.horizon + (h - 1)]!;
  }

  toJSON(): CalibratorSnapshot {
    return {
      models: this.models,
      horizon: this.horizon,
      level: this.level,
      capacity: this.capacity,
      scores: this.rings.map((r, i) => Array.from(r.subarray(0, this.fill[i]!))),
      alphaEff: Array.from(this.alphaEff),
    };
  }

  /** Restores a snapshot; throws when its shape does not match. */
  restore(s: CalibratorSnapshot): void {
    if (s.models !== this.models || s.horizon !== this.horizon || s.scores.length !== this.rings.length) {
      throw new InputError(`calibrator: snapshot is ${s.models}×${s.horizon}, expected ${this.models}×${this.horizon}`);
    }
    s.scores.forEach((arr, i) => {
      const take = arr.slice(-this.capacity);
      this.rings[i]!.set(take);
      this.fill[i] = take.length;
      this.pos[i] = take.length % this.capacity;
      const a = s.alphaEff[i];
      if (typeof a === 'number' && Number.isFinite(a)) this.alphaEff[i] = a;
    });
    this.dirty = true;
    this.update();
  }
}
