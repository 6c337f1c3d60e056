/**
 * The global model: one network shared by every series, trained online with TensorFlow.js.
 *
 * Architecture (N-BEATS / DLinear flavoured, all large matrix products, no recurrence):
 *   x = normalised lag window (L values)             [B, L]
 *   linear  = x·Wl + bl                              [B, 3H]   (DLinear-style skip)
 *   mlp     = relu(relu(x·W1+b1)·W2+b2)·W3+b3        [B, 3H]
 *   out     = linear + mlp  → median m, log-widths a, b
 *   lower = m − softplus(a), upper = m + softplus(b) (quantiles can never cross)
 * Every series is a row of the same batch, so a forward pass for 100k series is a handful of
 * [100k × L] × [L × hidden] products, which a GPU (or wasm SIMD) does well.
 *
 * Per-row normalisation: each window is centred on its own mean and scaled by its standard
 * deviation (floored, so flat and all-zero series are safe); normalised values are clipped to
 * ±clip so a burst cannot blow up a gradient. Targets use the window's statistics. Gaps are
 * imputed (seasonal, then last value) in the input and masked out of the loss in the target.
 * Loss: pinball loss at the three quantiles (median = point forecast, robust to bursts).
 * The skip layer starts as seasonal naive, so an untrained model is already a sane baseline.
 */
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../lib/errors.js';
import type { ForecastRequest, Forecaster, SeriesForecast } from './forecaster.js';
import { imputeInPlace } from './util.js';
import { checkOptimizerState, loadOptimizerState, type OptimizerState, readOptimizerState } from './optimizerState.js';

export interface GlobalModelOptions {
  /** Input window length in steps (should cover at least one season). */
  lags: number;
  horizon: number;
  /** Season used for imputation and for the seasonal-naive initialisation (1 = none). */
  season?: number;
  hidden?: number;
  /** Nominal central interval level of the quantile heads (default 0.9). */
  level?: number;
  learningRate?: number;
  /** Mini-batch size for `fit` (default 4096). */
  batchSize?: number;
  /** Normalised values are clipped to ±clip (default 8). */
  clip?: number;
  seed?: number;
}

/** Training windows: n rows of `lags` inputs and `horizon` targets, raw units, NaN = gap. */
export interface TrainingWindows {
  x: Float32Array;
  y: Float32Array;
  n: number;
}

export interface BatchPrediction {
  point: Float32Array;
  lower: Float32Array;
  upper: Float32Array;
  /** Rows that had no finite input (their outputs are NaN). */
  empty: Uint8Array;
}

export interface GlobalWeights {
  names: string[];
  shapes: number[][];
  data: Float32Array[];
  /** The optimizer's state (optimizerState.ts); absent in checkpoints made before it was kept. */
  optimizer?: OptimizerState;
}

const softplusInv = (v: number): number => Math.log(Math.expm1(v));

export class GlobalModel implements Forecaster {
  readonly name = 'global';
  readonly lags: number;
  readonly horizon: number;
  readonly season: number;
  readonly hidden: number;
  readonly level: number;
  readonly clip: number;
  readonly batchSize: number;
  /** Training steps (mini-batches) taken so far. */
  steps = 0;
  /** Most recent mean training loss. */
  lastLoss = NaN;
  private readonly vars: tf.Variable[];
  private readonly names = ['W1', 'b1', 'W2', 'b2', 'W3', 'b3', 'Wl', 'bl'];
  private readonly opt: tf.Optimizer;
  /** Optimizer state restored with the weights, loaded before the next fit (loading it is async). */
  private pendingOptimizer: OptimizerState | null = null;
  private readonly tau: number[];

  constructor(opts: GlobalModelOptions) {
    this.lags = opts.lags;
    this.horizon = opts.horizon;
    this.season = Math.max(1, Math.floor(opts.season ?? 1));
    this.hidden = opts.hidden ?? 128;
    this.level = opts.level ?? 0.9;
    this.clip = opts.clip ?? 8;
    this.batchSize = opts.batchSize ?? 4096;
    const a = (1 - this.level) / 2;
    this.tau = [0.5, a, 1 - a];
    const L = this.lags,
      H = this.horizon,
      K = this.hidden,
      O = 3 * H;
    const seed = opts.seed ?? 42;
    // Seasonal-naive initialisation of the median part of the skip layer.
    const wl = new Float32Array(L * O);
    const m = this.season > 1 && this.season <= L ? this.season : 1;
    for (let h = 0; h < H; h++) {
      const src = m > 1 ? L - m + (h % m) : L - 1;
      wl[src * O + h] = 1;
    }
    const bl = new Float32Array(O);
    // Widths start at ~1.2 normalised units.
    for (let h = H; h < O; h++) bl[h] = softplusInv(1.2);
    this.vars = tf.tidy(() => [
      tf.variable(tf.randomNormal([L, K], 0, Math.sqrt(2 / L), 'float32', seed), true),
      tf.variable(tf.zeros([K]), true),
      tf.variable(tf.randomNormal([K, K], 0, Math.sqrt(2 / K), 'float32', seed + 1), true),
      tf.variable(tf.zeros([K]), true),
      tf.variable(tf.randomNormal([K, O], 0, 0.01 / Math.sqrt(K), 'float32', seed + 2), true),
      tf.variable(tf.zeros([O]), true),
      tf.variable(tf.tensor2d(wl, [L, O]), true),
      tf.variable(tf.tensor1d(bl), true),
    ]);
    this.opt = tf.train.adam(opts.learningRate ?? 2e-3);
  }

  /** Frees the tensors. */
  dispose(): void {
    for (const v of this.vars) v.dispose();
    this.opt.dispose();
  }

  /**
   * Normalises rows in place: imputes gaps, centres and scales each row; returns the per-row
   * level and scale (and which rows had no data at all).
   */
  normalise(x: Float32Array, n: number): { level: Float32Array; scale: Float32Array; empty: Uint8Array } {
    const L = this.lags;
    const level = new Float32Array(n);
    const scale = new Float32Array(n);
    const empty = new Uint8Array(n);
    const clip = this.clip;
    for (let r = 0; r < n; r++) {
      const row = x.subarray(r * L, (r + 1) * L);
      if (!imputeInPlace(row, this.season)) {
        row.fill(0);
        empty[r] = 1;
        level[r] = NaN;
        scale[r] = 1;
        continue;
      }
      let s = 0,
        s2 = 0;
      for (let i = 0; i < L; i++) {
        s += row[i]!;
        s2 += row[i]! * row[i]!;
      }
      const mu = s / L;
      let sd = Math.sqrt(Math.max(0, s2 / L - mu * mu));
      const floor = Math.max(1e-3 * Math.abs(mu), 1e-6);
      if (!(sd > floor)) sd = Math.max(Math.abs(mu) * 0.1, floor, 1e-3);
      level[r] = mu;
      scale[r] = sd;
      for (let i = 0; i < L; i++) {
        const v = (row[i]! - mu) / sd;
        row[i] = v > clip ? clip : Math.max(v, -clip);
      }
    }
    return { level, scale, empty };
  }

  private forward(x: tf.Tensor2D): { mid: tf.Tensor2D; lo: tf.Tensor2D; hi: tf.Tensor2D } {
    const [W1, b1, W2, b2, W3, b3, Wl, bl] = this.vars as [
      tf.Variable,
      tf.Variable,
      tf.Variable,
      tf.Variable,
      tf.Variable,
      tf.Variable,
      tf.Variable,
      tf.Variable,
    ];
    const H = this.horizon;
    const h1 = tf.relu(tf.add(tf.matMul(x, W1), b1));
    const h2 = tf.relu(tf.add(tf.matMul(h1, W2), b2));
    const out = tf.add(tf.add(tf.matMul(h2, W3), b3), tf.add(tf.matMul(x, Wl), bl)) as tf.Tensor2D;
    const mid = tf.slice(out, [0, 0], [-1, H]);
    const a = tf.softplus(tf.slice(out, [0, H], [-1, H]));
    const b = tf.softplus(tf.slice(out, [0, 2 * H], [-1, H]));
    return { mid, lo: tf.sub(mid, a), hi: tf.add(mid, b) };
  }

  /**
   * Incremental fit: `epochs` passes over the windows in shuffled mini-batches.
   * Returns the mean pinball loss of the last epoch (normalised units).
   */
  async fit(windows: TrainingWindows, epochs = 1, seed = this.steps, batchSize = this.batchSize): Promise<number> {
    const { n } = windows;
    if (!n) return NaN;
    if (this.pendingOptimizer) this.pendingOptimizer = await loadOptimizerState(this.opt, this.pendingOptimizer);
    const L = this.lags,
      H = this.horizon;
    const x = windows.x.slice(0, n * L);
    const { level, scale, empty } = this.normalise(x, n);
    const y = new Float32Array(n * H);
    const mask = new Float32Array(n * H);
    const clip = this.clip;
    let usable = 0;
    for (let r = 0; r < n; r++) {
      if (empty[r]) continue;
      let any = false;
      for (let h = 0; h < H; h++) {
        const v = windows.y[r * H + h]!;
        if (Number.isFinite(v)) {
          const z = (v - level[r]!) / scale[r]!;
          y[r * H + h] = z > clip ? clip : Math.max(z, -clip);
          mask[r * H + h] = 1;
          any = true;
        }
      }
      if (any) usable++;
    }
    if (!usable) return NaN;
    const bs = Math.max(1, Math.min(batchSize, n));
    const order = Array.from({ length: n }, (_, i) => i);
    let s = (seed * 2654435761) >>> 0;
    let last = NaN;
    for (let e = 0; e < epochs; e++) {
      for (let i = n - 1; i > 0; i--) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        const j = s % (i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let total = 0,
        batches = 0;
      for (let start = 0; start < n; start += bs) {
        const idx = order.slice(start, start + bs);
        const b = idx.length;
        const xb = new Float32Array(b * L),
          yb = new Float32Array(b * H),
          mb = new Float32Array(b * H);
        idx.forEach((r, k) => {
          xb.set(x.subarray(r * L, (r + 1) * L), k * L);
          yb.set(y.subarray(r * H, (r + 1) * H), k * H);
          mb.set(mask.subarray(r * H, (r + 1) * H), k * H);
        });
        const lossT = tf.tidy(() => {
          const xt = tf.tensor2d(xb, [b, L]);
          const yt = tf.tensor2d(yb, [b, H]);
          const mt = tf.tensor2d(mb, [b, H]);
          const denom = tf.maximum(tf.sum(mt), 1);
          const pin = (pred: tf.Tensor2D, tau: number): tf.Tensor => {
            const u = tf.sub(yt, pred);
            return tf.div(tf.sum(tf.mul(tf.maximum(tf.mul(u, tau), tf.mul(u, tau - 1)), mt)), denom);
          };
          const r = this.opt.minimize(
            () => {
              const { mid, lo, hi } = this.forward(xt);
              return tf.addN([pin(mid, this.tau[0]!), pin(lo, this.tau[1]!), pin(hi, this.tau[2]!)]) as tf.Scalar;
            },
            true,
            this.vars,
          );
          return r ?? tf.scalar(NaN);
        });
        total += (await lossT.data())[0]!;
        lossT.dispose();
        batches++;
        this.steps++;
      }
      last = total / Math.max(1, batches);
    }
    this.lastLoss = last;
    return last;
  }

  /**
   * Batched forecast from raw windows (n rows × lags, NaN = gap). Outputs are in raw units,
   * row-major n × horizon.
   */
  async predict(xRaw: Float32Array, n: number): Promise<BatchPrediction> {
    const L = this.lags,
      H = this.horizon;
    const x = xRaw.slice(0, n * L);
    const { level, scale, empty } = this.normalise(x, n);
    const point = new Float32Array(n * H),
      lower = new Float32Array(n * H),
      upper = new Float32Array(n * H);
    const chunk = 65536;
    for (let start = 0; start < n; start += chunk) {
      const b = Math.min(chunk, n - start);
      const outs = tf.tidy(() => {
        const { mid, lo, hi } = this.forward(tf.tensor2d(x.subarray(start * L, (start + b) * L), [b, L]));
        return [mid, lo, hi];
      });
      const [pm, pl, pu] = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
      for (const t of outs) t.dispose();
      for (let r = 0; r < b; r++) {
        const R = start + r;
        const mu = level[R]!,
          sd = scale[R]!;
        for (let h = 0; h < H; h++) {
          const k = r * H + h;
          point[R * H + h] = mu + sd * pm![k]!;
          lower[R * H + h] = mu + sd * pl![k]!;
          upper[R * H + h] = mu + sd * pu![k]!;
        }
      }
    }
    return { point, lower, upper, empty };
  }

  /** `Forecaster`: forecasts each request's history with the current weights. */
  async forecastBatch(requests: ForecastRequest[]): Promise<SeriesForecast[]> {
    const L = this.lags,
      H = this.horizon;
    const n = requests.length;
    const x = new Float32Array(n * L).fill(NaN);
    requests.forEach((r, i) => {
      const h = r.history;
      const take = Math.min(L, h.length);
      for (let k = 0; k < take; k++) x[i * L + L - take + k] = h[h.length - take + k]!;
    });
    const p = await this.predict(x, n);
    return requests.map((r, i) => {
      let nonNeg = true;
      for (let k = 0; k < r.history.length; k++)
        if (r.history[k]! < 0) {
          nonNeg = false;
          break;
        }
      const c = (v: number): number => (nonNeg ? Math.max(0, v) : v);
      const out: SeriesForecast = { predicted: [], lower: [], upper: [], model: this.name };
      for (let h = 0; h < Math.min(H, r.horizon); h++) {
        out.predicted.push(c(p.point[i * H + h]!));
        out.lower.push(c(p.lower[i * H + h]!));
        out.upper.push(c(p.upper[i * H + h]!));
      }
      return out;
    });
  }

  /** Copies the weights and the optimizer's state out (for checkpoints). */
  async getWeights(): Promise<GlobalWeights> {
    const data = await Promise.all(this.vars.map((v) => v.data() as Promise<Float32Array>));
    const optimizer = this.pendingOptimizer ?? (await readOptimizerState(this.opt));
    return { names: this.names, shapes: this.vars.map((v) => v.shape.slice()), data: data.map((d) => Float32Array.from(d)), optimizer };
  }

  /** Loads weights; throws when names or shapes do not match this model's. */
  setWeights(w: GlobalWeights): void {
    if (w.names.length !== this.vars.length) throw new InputError(`weights: expected ${this.vars.length} tensors, got ${w.names.length}`);
    this.vars.forEach((v, i) => {
      const shape = w.shapes[i] ?? [];
      if (w.names[i] !== this.names[i] || shape.join('x') !== v.shape.join('x')) {
        throw new InputError(`weights: tensor ${i} is ${w.names[i]} ${shape.join('x')}, expected ${this.names[i]} ${v.shape.join('x')}`);
      }
      const d = w.data[i]!;
      if (d.length !== v.size) throw new InputError(`weights: tensor ${this.names[i]} has ${d.length} values, expected ${v.size}`);
      for (let k = 0; k < d.length; k++)
        if (!Number.isFinite(d[k]!)) throw new InputError(`weights: tensor ${this.names[i]} has a non-finite value`);
    });
    if (w.optimizer) checkOptimizerState(w.optimizer, this.vars);
    this.vars.forEach((v, i) => {
      const t = tf.tensor(w.data[i]!, v.shape);
      v.assign(t);
      t.dispose();
    });
    this.pendingOptimizer = w.optimizer ?? null;
  }

  /** Builds training windows from whole series: origins every `stride` steps, newest first, at most `maxPerSeries` each. */
  static windowsFrom(
    series: ArrayLike<number>[],
    lags: number,
    horizon: number,
    opts: { stride?: number; maxPerSeries?: number; minObserved?: number } = {},
  ): TrainingWindows {
    const stride = opts.stride ?? 1;
    const maxPer = opts.maxPerSeries ?? Infinity;
    const rows: { s: ArrayLike<number>; end: number }[] = [];
    for (const s of series) {
      let k = 0;
      // Origin `end` = index of the last input value; targets end+1..end+horizon.
      for (let end = s.length - 1 - horizon; end >= Math.min(lags - 1, Math.max(1, Math.floor(lags / 4))) && k < maxPer; end -= stride, k++)
        rows.push({ s, end });
    }
    const n = rows.length;
    const x = new Float32Array(n * lags).fill(NaN);
    const y = new Float32Array(n * horizon).fill(NaN);
    rows.forEach(({ s, end }, r) => {
      for (let i = 0; i < lags; i++) {
        const j = end - lags + 1 + i;
        if (j >= 0) x[r * lags + i] = s[j]!;
      }
      for (let h = 0; h < horizon; h++) y[r * horizon + h] = s[end + 1 + h]!;
    });
    return { x, y, n };
  }
}
