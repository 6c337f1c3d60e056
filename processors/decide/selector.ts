/**
 * The learned plan selector: a disjoint LinUCB contextual bandit. Arms are plan strategies;
 * the context is the plan's feature vector (planner.planFeatures). Each arm keeps
 * A = I·λ + Σ x xᵀ and b = Σ r x; it scores θᵀx + α·√(xᵀA⁻¹x) with θ = A⁻¹b.
 *
 * Safe default: until every candidate arm has `minObservations` rewards, the selector returns
 * the cost model's argmax (the plan with the best reference score), so with no data it does
 * exactly what the cost model says. Rewards come from observed outcomes (see `outcomeReward`).
 * The model is a plain object: it can be kept in a store, sent on a topic, or snapshotted.
 */

export interface ArmModel {
  /** Row-major d×d. */
  A: number[];
  b: number[];
  n: number;
}

export interface SelectorModel {
  d: number;
  alpha: number;
  lambda: number;
  minObservations: number;
  arms: Record<string, ArmModel>;
}

export function newSelector(d: number, opts: { alpha?: number; lambda?: number; minObservations?: number } = {}): SelectorModel {
  return { d, alpha: opts.alpha ?? 0.5, lambda: opts.lambda ?? 1, minObservations: opts.minObservations ?? 3, arms: {} };
}

function arm(m: SelectorModel, id: string): ArmModel {
  const a = m.arms[id];
  if (a) return a;
  const A = new Array<number>(m.d * m.d).fill(0);
  for (let i = 0; i < m.d; i++) A[i * m.d + i] = m.lambda;
  return { A, b: new Array<number>(m.d).fill(0), n: 0 };
}

/** Solves A x = y for symmetric positive definite A (Cholesky). */
export function solveSpd(A: readonly number[], y: readonly number[], d: number): number[] {
  const L = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * d + j]!;
      for (let k = 0; k < j; k++) s -= L[i * d + k]! * L[j * d + k]!;
      L[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / L[j * d + j]!;
    }
  }
  const z = new Array<number>(d).fill(0);
  for (let i = 0; i < d; i++) {
    let s = y[i]!;
    for (let k = 0; k < i; k++) s -= L[i * d + k]! * z[k]!;
    z[i] = s / L[i * d + i]!;
  }
  const x = new Array<number>(d).fill(0);
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < d; k++) s -= L[k * d + i]! * x[k]!;
    x[i] = s / L[i * d + i]!;
  }
  return x;
}

export function ucb(m: SelectorModel, armId: string, x: readonly number[]): { mean: number; bonus: number; n: number } {
  const a = arm(m, armId);
  const theta = solveSpd(a.A, a.b, m.d);
  const ainvx = solveSpd(a.A, x, m.d);
  let mean = 0,
    v = 0;
  for (let i = 0; i < m.d; i++) {
    mean += theta[i]! * x[i]!;
    v += x[i]! * ainvx[i]!;
  }
  return { mean, bonus: m.alpha * Math.sqrt(Math.max(0, v)), n: a.n };
}

export interface SelectorChoice {
  index: number;
  arm: string;
  mode: 'default' | 'learned';
  scores: { arm: string; mean: number; bonus: number }[];
}

/**
 * Picks one of the options. `defaultIndex` is the cost model's argmax, used while any option's
 * arm has fewer than minObservations rewards (the safe default).
 */
export function choose(
  m: SelectorModel | null | undefined,
  options: readonly { arm: string; features: readonly number[] }[],
  defaultIndex: number,
): SelectorChoice {
  const def = options[defaultIndex]!;
  if (!m || options.some((o) => (m.arms[o.arm]?.n ?? 0) < m.minObservations)) {
    return { index: defaultIndex, arm: def.arm, mode: 'default', scores: [] };
  }
  let best = defaultIndex,
    bestScore = -Infinity;
  const scores = options.map((o, i) => {
    const u = ucb(m, o.arm, o.features);
    const sc = u.mean + u.bonus;
    if (sc > bestScore + 1e-12 || (Math.abs(sc - bestScore) <= 1e-12 && i === defaultIndex)) {
      bestScore = sc;
      best = i;
    }
    return { arm: o.arm, mean: u.mean, bonus: u.bonus };
  });
  return { index: best, arm: options[best]!.arm, mode: 'learned', scores };
}

/** Records a reward for the arm that was played in context x. Returns a new model. */
export function update(m: SelectorModel, armId: string, x: readonly number[], reward: number): SelectorModel {
  const a = arm(m, armId);
  const A = a.A.slice(),
    b = a.b.slice();
  for (let i = 0; i < m.d; i++) {
    b[i]! += reward * x[i]!;
    for (let j = 0; j < m.d; j++) A[i * m.d + j]! += x[i]! * x[j]!;
  }
  return { ...m, arms: { ...m.arms, [armId]: { A, b, n: a.n + 1 } } };
}

/**
 * Reward of a decision from what was observed afterwards: SLA-violation minutes (node over
 * capacity), node-minutes, GiB moved and failed commands over the period the plan covered,
 * each scaled, negated (higher is better) and squashed to (−1, 0].
 *
 * With `neededNodeMinutes` (the node-minutes the load observed over the period needs at the
 * target utilisation), nodes are charged by the excess over that, not in total: the load, not
 * the plan, sets how many nodes a period needs, so the total would mostly reward the quiet hours
 * and blame the busy ones whatever plan was chosen; the excess is what the plan chose.
 */
export function outcomeReward(o: {
  violationMinutes: number;
  nodeMinutes: number;
  gbMoved: number;
  failed: number;
  periodMinutes: number;
  nodes: number;
  neededNodeMinutes?: number;
}): number {
  const period = Math.max(1, o.periodMinutes);
  const nodeCost =
    o.neededNodeMinutes !== undefined
      ? Math.max(0, o.nodeMinutes - o.neededNodeMinutes) / period / 4
      : o.nodeMinutes / Math.max(1, o.periodMinutes * Math.max(1, o.nodes));
  const cost = 20 * (o.violationMinutes / period) + nodeCost + o.gbMoved / 100 + 0.5 * o.failed;
  return -Math.tanh(cost / 4);
}
