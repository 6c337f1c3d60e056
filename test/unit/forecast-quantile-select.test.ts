/**
 * The calibrator's quantiles by selection equal the ones a full sort gives: on random data, with
 * ties and capped scores, at every rank, and through the calibrator itself against a sorting
 * reference of its own windows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConformalCalibrator } from '../../models/calibrator.js';
import { quantile, quantileAbove, quantileInPlace, rng, selectKth } from '../../models/util.js';

/** The quantile as the calibrator computed it before: sort, then interpolate. */
function sortedQuantile(values: ArrayLike<number>, q: number): number {
  const a = Array.from(values).sort((x, y) => x - y);
  const pos = Math.min(Math.max(q, 0), 1) * (a.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, a.length - 1);
  return a[lo]! + (a[hi]! - a[lo]!) * (pos - lo);
}

test('selectKth puts the k-th order statistic at k, nothing larger before, nothing smaller after', () => {
  const r = rng(11);
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(r() * 200);
    // a third of the trials draw from a handful of values: many ties
    const few = trial % 3 === 0;
    const a = Float64Array.from({ length: n }, () => (few ? Math.floor(r() * 4) : r() * 10 - 5));
    const sorted = Array.from(a).sort((x, y) => x - y);
    const k = Math.floor(r() * n);
    assert.equal(selectKth(a, k), sorted[k]);
    for (let i = 0; i < k; i++) assert.ok(a[i]! <= a[k]!);
    for (let i = k + 1; i < n; i++) assert.ok(a[i]! >= a[k]!);
    assert.deepEqual(
      Array.from(a).sort((x, y) => x - y),
      sorted,
      'a permutation of the input',
    );
  }
  assert.equal(selectKth([3, 1, 2], 0), 1);
  assert.equal(selectKth([1, 2, 3, 4, 5], 4), 5);
});

test('quantileInPlace equals the sorting quantile on random windows, sorted and reversed input included', () => {
  const r = rng(12);
  for (let trial = 0; trial < 500; trial++) {
    const n = 1 + Math.floor(r() * 2048);
    const kind = trial % 4;
    const xs = Float32Array.from({ length: n }, (_, i) =>
      kind === 0 ? r() * 3 : kind === 1 ? Math.min(25, -Math.log(r()) * 4) : kind === 2 ? i / n : (n - i) / n,
    );
    const q = trial % 10 === 0 ? 1 : trial % 10 === 1 ? 0 : r();
    const want = sortedQuantile(xs, q);
    assert.equal(quantileInPlace(Float64Array.from(xs), n, q), want, `n ${n} q ${q}`);
    assert.equal(quantile(xs, q), want);
  }
});

test('quantileAbove equals the sorting quantile whenever its floor is under it, and leaves its input as it was', () => {
  const r = rng(14);
  let answered = 0,
    declined = 0;
  for (let trial = 0; trial < 500; trial++) {
    const n = 1 + Math.floor(r() * 2048);
    const xs = Float32Array.from({ length: n }, () => (trial % 3 === 0 ? Math.floor(r() * 5) : Math.min(25, -Math.log(r()) * 4)));
    const before = Float32Array.from(xs);
    const q = trial % 10 === 0 ? 1 : r();
    const want = sortedQuantile(xs, q);
    // floors below, at and above the quantile; ties at the floor included
    const floor = trial % 4 === 0 ? want : want * (0.5 + r());
    const got = quantileAbove(xs, n, q, floor, new Float64Array(n));
    assert.deepEqual(xs, before, 'input unchanged');
    const rankValue = Array.from(xs).sort((x, y) => x - y)[Math.floor(Math.min(Math.max(q, 0), 1) * (n - 1))]!;
    if (floor <= rankValue) {
      assert.equal(got, want, `n ${n} q ${q} floor ${floor}`);
      answered++;
    } else {
      assert.equal(got, null, `n ${n} q ${q} floor ${floor}: too few values at or above the floor`);
      declined++;
    }
  }
  assert.ok(answered > 100 && declined > 100, `both cases met (${answered} answered, ${declined} declined)`);
});

test('the calibrator gives the factors its sorting version gave, step after step', () => {
  const r = rng(13);
  const models = 2,
    H = 3,
    cap = 256;
  const c = new ConformalCalibrator(models, H, 0.9, cap, 0.02);
  const windows: number[][] = Array.from({ length: models * H }, () => []);
  // the adaptive level is replayed beside it so the reference uses the same rank
  const target = 1 - 0.9;
  const alpha = new Array(models * H).fill(target);
  const misses = new Array(models * H).fill(0),
    seen = new Array(models * H).fill(0);
  const factors = new Array(models * H).fill(2);
  for (let step = 0; step < 400; step++) {
    for (let m = 0; m < models; m++)
      for (let h = 1; h <= H; h++) {
        const adds = 1 + Math.floor(r() * 5);
        for (let j = 0; j < adds; j++) {
          const s = Math.fround(Math.min(25, -Math.log(r()) * (1 + m + h / 2)));
          c.add(m, h, s);
          const i = m * H + h - 1;
          windows[i]!.push(s);
          if (windows[i]!.length > cap) windows[i]!.shift();
          seen[i]++;
          if (s > factors[i]) misses[i]++;
        }
      }
    c.update();
    for (let i = 0; i < models * H; i++) {
      alpha[i] = Math.min(Math.max(alpha[i] + 0.02 * (target - misses[i] / seen[i]), target / 4), Math.min(0.5, target * 3));
      misses[i] = 0;
      seen[i] = 0;
      const n = windows[i]!.length;
      if (n >= 30) factors[i] = sortedQuantile(windows[i]!, Math.min(1, (1 - alpha[i]) * (1 + 1 / n)));
      assert.equal(c.factor(Math.floor(i / H), (i % H) + 1), factors[i], `step ${step} ring ${i}`);
    }
  }
});
