/**
 * The cost model. Two parts:
 *
 * 1. `buildLoadProfile`: predicted read/write load per partition over the planning horizon,
 *    from forecasts (per partition series, or per key-bucket series summed by overlap),
 *    planned at `point + risk × (upper − point)`, falling back to the current aggregate.
 * 2. `Scenario`: a placement over the horizon (nodes with capacity and active steps,
 *    partitions on nodes, replicas, changes scheduled at start/finish steps) with node load
 *    timelines kept incrementally, so a candidate is scored by the change it makes on the
 *    few nodes it touches. Score = overload + lost headroom + node-minutes + bytes moved +
 *    storage + cross-node co-access + actions + partition overhead, weights from the config.
 *
 * Replicas share a partition's read load; writes land on every copy. A migration uses
 * `migrationOverhead × capacity` on its source and target until it finishes; its duration is
 * bytes / throttle rate.
 */
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import type { DecideConfig, Weights } from './config.js';
import { type ClusterState, type PartitionSpec, overlapFraction, seriesOf } from './state.js';

const GiB = 1024 ** 3;

export interface PartitionLoad {
  seriesId: string;
  /** Planned load per step (risk-adjusted), split into reads and writes. */
  read: Float64Array;
  write: Float64Array;
  /** Point, lower and upper forecasts of the total, per step. */
  point: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  currentRead: number;
  currentWrite: number;
  model: string | null;
  /** Whether any forecast covered this partition (otherwise the current load is carried). */
  forecast: boolean;
}

export interface BucketLoad {
  table: string;
  lo: number;
  hi: number;
  /** Planned total load per step. */
  total: Float64Array;
}

export interface LoadProfile {
  now: number;
  stepMs: number;
  steps: number;
  partitions: Map<string, PartitionLoad>;
  bucketsByTable: Map<string, BucketLoad[]>;
}

interface SeriesSteps {
  point: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  model: string;
}

/** Forecast points aligned to steps now+1·step … now+H·step (later points win; gaps carried). */
function alignForecast(f: Forecast, now: number, stepMs: number, steps: number, fallback: number): SeriesSteps {
  const point = new Float64Array(steps).fill(NaN);
  const lower = new Float64Array(steps).fill(NaN);
  const upper = new Float64Array(steps).fill(NaN);
  for (const p of f.points) {
    const k = Math.ceil((p.ts - now) / stepMs) - 1;
    if (k < 0 || k >= steps) continue;
    point[k] = Math.max(0, p.predicted);
    lower[k] = Math.max(0, Math.min(p.lower, p.predicted));
    upper[k] = Math.max(p.upper, p.predicted, 0);
  }
  let lp = fallback,
    ll = fallback,
    lu = fallback;
  for (let k = 0; k < steps; k++) {
    if (Number.isNaN(point[k]!)) {
      point[k] = lp;
      lower[k] = ll;
      upper[k] = lu;
    }
    lp = point[k]!;
    ll = lower[k]!;
    lu = upper[k]!;
  }
  return { point, lower, upper, model: f.model };
}

function latestBy<T extends { windowEnd: number }>(items: readonly T[], key: (t: T) => string | null): Map<string, T> {
  const m = new Map<string, T>();
  for (const a of items) {
    const k = key(a);
    if (k === null) continue;
    const prev = m.get(k);
    if (!prev || prev.windowEnd <= a.windowEnd) m.set(k, a);
  }
  return m;
}

/** Predicted load per partition over the horizon. */
export function buildLoadProfile(
  state: ClusterState,
  forecasts: readonly Forecast[],
  aggregates: readonly WorkloadAggregate[],
  now: number,
  cfg: DecideConfig,
): LoadProfile {
  const steps = cfg.horizonSteps;
  const stepMs = cfg.stepMs;
  const fBySeries = new Map<string, Forecast>();
  for (const f of forecasts) {
    if (f.metric !== 'queries' && f.metric !== 'load' && f.metric !== 'value') continue;
    const prev = fBySeries.get(f.seriesId);
    if (!prev || prev.issuedAt <= f.issuedAt) fBySeries.set(f.seriesId, f);
  }
  const aggBySeries = latestBy(aggregates, (a) => a.seriesId);
  const aggByPartition = latestBy(aggregates, (a) => a.partition);

  // Key buckets: forecast or current load per bucket.
  const bucketsByTable = new Map<string, BucketLoad[]>();
  const bucketSteps = new Map<string, SeriesSteps>();
  for (const b of state.buckets) {
    const agg = aggBySeries.get(b.seriesId);
    const cur = agg ? agg.queries : 0;
    const f = fBySeries.get(b.seriesId);
    const s = f
      ? alignForecast(f, now, stepMs, steps, cur)
      : {
          point: new Float64Array(steps).fill(cur),
          lower: new Float64Array(steps).fill(cur),
          upper: new Float64Array(steps).fill(cur),
          model: 'current',
        };
    bucketSteps.set(b.seriesId, s);
    const total = new Float64Array(steps);
    for (let k = 0; k < steps; k++) total[k] = s.point[k]! + cfg.risk * (s.upper[k]! - s.point[k]!);
    const list = bucketsByTable.get(b.table) ?? [];
    list.push({ table: b.table, lo: b.lo, hi: b.hi, total });
    bucketsByTable.set(b.table, list);
  }
  for (const list of bucketsByTable.values()) list.sort((a, b) => a.lo - b.lo);

  const partitions = new Map<string, PartitionLoad>();
  for (const p of state.partitions) {
    const sid = seriesOf(p);
    const agg = aggByPartition.get(p.id) ?? aggBySeries.get(sid);
    let currentRead = agg ? agg.reads : 0;
    let currentWrite = agg ? agg.writes : 0;
    const f = fBySeries.get(sid);
    let point: Float64Array,
      lower: Float64Array,
      upper: Float64Array,
      model: string | null = null,
      forecast = false;
    const buckets = state.buckets.filter((b) => b.table === p.table && overlapFraction(b.lo, b.hi, p.lo, p.hi) > 0);
    if (f) {
      const s = alignForecast(f, now, stepMs, steps, currentRead + currentWrite);
      ({ point, lower, upper } = s);
      model = s.model;
      forecast = true;
    } else if (buckets.length) {
      point = new Float64Array(steps);
      lower = new Float64Array(steps);
      upper = new Float64Array(steps);
      const varUp = new Float64Array(steps),
        varLo = new Float64Array(steps);
      let bucketCurrent = 0;
      for (const b of buckets) {
        const w = overlapFraction(b.lo, b.hi, p.lo, p.hi);
        const s = bucketSteps.get(b.seriesId)!;
        if (s.model !== 'current') {
          forecast = true;
          model = s.model;
        }
        bucketCurrent += w * (aggBySeries.get(b.seriesId)?.queries ?? 0);
        for (let k = 0; k < steps; k++) {
          point[k]! += w * s.point[k]!;
          varUp[k]! += (w * (s.upper[k]! - s.point[k]!)) ** 2;
          varLo[k]! += (w * (s.point[k]! - s.lower[k]!)) ** 2;
        }
      }
      // Independent buckets: the interval of the sum is narrower than the sum of intervals.
      for (let k = 0; k < steps; k++) {
        upper[k] = point[k]! + Math.sqrt(varUp[k]!);
        lower[k] = Math.max(0, point[k]! - Math.sqrt(varLo[k]!));
      }
      if (!agg && bucketCurrent > 0) {
        currentRead = bucketCurrent * cfg.readFractionDefault;
        currentWrite = bucketCurrent - currentRead;
      }
    } else {
      const cur = currentRead + currentWrite;
      point = new Float64Array(steps).fill(cur);
      lower = point.slice();
      upper = point.slice();
    }
    const curTotal = currentRead + currentWrite;
    const readFrac = curTotal > 0 ? currentRead / curTotal : cfg.readFractionDefault;
    const read = new Float64Array(steps),
      write = new Float64Array(steps);
    for (let k = 0; k < steps; k++) {
      const t = point[k]! + cfg.risk * (upper[k]! - point[k]!);
      read[k] = t * readFrac;
      write[k] = t - read[k]!;
    }
    partitions.set(p.id, { seriesId: sid, read, write, point, lower, upper, currentRead, currentWrite, model, forecast });
  }
  return { now, stepMs, steps, partitions, bucketsByTable };
}

/** Planned load of the key sub-range [lo, hi) of a partition, per step (from key buckets). */
export function subRangeLoad(profile: LoadProfile, p: PartitionSpec, lo: number | null, hi: number | null): Float64Array | null {
  const buckets = profile.bucketsByTable.get(p.table);
  if (!buckets?.length) return null;
  const out = new Float64Array(profile.steps);
  const from = Math.max(lo ?? -Infinity, p.lo ?? -Infinity);
  const to = Math.min(hi ?? Infinity, p.hi ?? Infinity);
  for (const b of buckets) {
    const w = overlapFraction(b.lo, b.hi, from, to);
    if (w > 0) for (let k = 0; k < out.length; k++) out[k]! += w * b.total[k]!;
  }
  return out;
}

export function peakOf(a: ArrayLike<number>): { value: number; step: number } {
  let value = -Infinity,
    step = 0;
  for (let k = 0; k < a.length; k++)
    if (a[k]! > value) {
      value = a[k]!;
      step = k;
    }
  return { value: Math.max(0, value), step };
}

/** Migration duration in ms at the throttle rate. */
export function migrationMs(bytes: number, cfg: Pick<DecideConfig, 'throttleBytesPerSec'>): number {
  return Math.ceil((bytes / cfg.throttleBytesPerSec) * 1000);
}

export function msToSteps(ms: number, stepMs: number): number {
  return Math.max(1, Math.ceil(ms / stepMs));
}

// ---------------------------------------------------------------------------------------
// Scenario: placement over the horizon with incremental node timelines.

export interface ScenarioNode {
  id: string;
  capacity: number;
  /** First step the node serves load. */
  activeFrom: number;
  /** First step after the node is removed (steps = still there at the end). */
  activeUntil: number;
  /** Step from which it is billed (provisioning counts). */
  billedFrom: number;
  load: Float64Array;
  isNew: boolean;
}

export interface ScenarioPartition {
  id: string;
  spec: PartitionSpec;
  node: string;
  replicas: string[];
  read: Float64Array;
  write: Float64Array;
  /** Upper bound of the forecast interval of the total load, per step (scale-in checks it). */
  upper: Float64Array;
  sizeBytes: number;
  /** First step the partition exists as such (children of a planned split). */
  availableFrom: number;
  /** Touched by an in-flight or planned change: no second change in the same plan. */
  locked: boolean;
}

/** Upper bound of a partition's total load per step, never below the planned load. */
function upperOf(l: PartitionLoad): Float64Array {
  const out = new Float64Array(l.read.length);
  for (let k = 0; k < out.length; k++) out[k] = Math.max(l.upper[k]!, l.read[k]! + l.write[k]!);
  return out;
}

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
  n: Pick<ScenarioNode, 'capacity' | 'activeFrom' | 'activeUntil'>,
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

/** A change to node timelines and score parts that a primitive op makes. */
export interface Effect {
  deltas: Map<string, Float64Array>;
  parts: ScoreParts;
  /** Structural changes, run when the effect is applied. */
  commit: (s: Scenario) => void;
}

export class Scenario {
  readonly nodes = new Map<string, ScenarioNode>();
  readonly partitions = new Map<string, ScenarioPartition>();
  /** Co-access edges by partition id. */
  readonly edges = new Map<string, { other: string; weight: number }[]>();
  parts: ScoreParts = zeroParts();

  constructor(
    readonly state: ClusterState,
    readonly profile: LoadProfile,
    readonly cfg: DecideConfig,
    readonly targetUtil = cfg.targetUtil,
  ) {
    const steps = profile.steps;
    for (const n of state.nodes) {
      const readyStep =
        n.status === 'provisioning' && n.readyAt != null ? Math.max(0, Math.ceil((n.readyAt - profile.now) / profile.stepMs)) : 0;
      this.nodes.set(n.id, {
        id: n.id,
        capacity: n.capacity,
        activeFrom: readyStep,
        activeUntil: steps,
        billedFrom: 0,
        load: new Float64Array(steps),
        isNew: false,
      });
    }
    for (const p of state.partitions) {
      const l = profile.partitions.get(p.id)!;
      this.partitions.set(p.id, {
        id: p.id,
        spec: p,
        node: p.node,
        replicas: [...(p.replicas ?? [])],
        read: l.read,
        write: l.write,
        upper: upperOf(l),
        sizeBytes: p.sizeBytes,
        availableFrom: 0,
        locked: false,
      });
    }
    for (const e of state.coAccess) {
      if (!this.partitions.has(e.a) || !this.partitions.has(e.b) || e.weight <= 0) continue;
      (this.edges.get(e.a) ?? this.edges.set(e.a, []).get(e.a)!).push({ other: e.b, weight: e.weight });
      (this.edges.get(e.b) ?? this.edges.set(e.b, []).get(e.b)!).push({ other: e.a, weight: e.weight });
    }
    for (const sp of this.partitions.values()) this.addCopies(sp, 1);
    for (const [a, list] of this.edges) {
      for (const { other, weight } of list) {
        if (a < other) this.addCross(a, other, weight, 1);
      }
    }
    // Base parts: node-minutes, storage, partitions.
    const stepMin = profile.stepMs / 60_000;
    for (const n of this.nodes.values()) this.parts.nodeMinutes += (n.activeUntil - n.billedFrom) * stepMin;
    for (const sp of this.partitions.values()) {
      this.parts.storageGbMinutes += (sp.sizeBytes / GiB) * (1 + sp.replicas.length) * steps * stepMin;
      this.parts.partitionMinutes += steps * stepMin;
    }
    for (const n of this.nodes.values()) {
      const pen = nodePenalty(n.load, n, this.targetUtil, stepMin);
      this.parts.overload += pen.overload;
      this.parts.headroom += pen.headroom;
    }
    // Partitions under cooldown are not planned again (safety would block the whole candidate).
    for (const r of state.recent) {
      if (profile.now - r.ts >= cfg.safety.cooldownMs) continue;
      const sp = this.partitions.get(r.target);
      if (sp) sp.locked = true;
    }
    // In-flight changes: their effect is part of the baseline.
    for (const f of state.inFlight) this.applyInFlight(f);
  }

  get stepMin(): number {
    return this.profile.stepMs / 60_000;
  }
  /** Steps past the horizon over which a change in the node count is assumed to persist. */
  get tailSteps(): number {
    return this.cfg.scale.tailSteps;
  }
  get steps(): number {
    return this.profile.steps;
  }

  /** Load a copy of a partition puts on its node at step k. */
  copyLoad(sp: Pick<ScenarioPartition, 'read' | 'write' | 'replicas'>, k: number, copies = 1 + sp.replicas.length): number {
    return sp.read[k]! / copies + sp.write[k]!;
  }

  private addCopies(sp: ScenarioPartition, sign: 1 | -1): void {
    const copies = 1 + sp.replicas.length;
    for (const nid of [sp.node, ...sp.replicas]) {
      const n = this.nodes.get(nid);
      if (!n) continue;
      for (let k = sp.availableFrom; k < this.steps; k++) n.load[k]! += sign * this.copyLoad(sp, k, copies);
    }
  }

  private addCross(a: string, b: string, weight: number, sign: 1 | -1): void {
    const pa = this.partitions.get(a),
      pb = this.partitions.get(b);
    if (!pa || !pb || pa.node === pb.node) return;
    const extra = this.cfg.crossNodeCost * weight;
    for (const nid of [pa.node, pb.node]) {
      const n = this.nodes.get(nid);
      if (!n) continue;
      for (let k = 0; k < this.steps; k++) n.load[k]! += sign * extra;
    }
    this.parts.crossLoad += sign * extra * 2 * this.steps * this.stepMin;
  }

  private applyInFlight(f: ClusterState['inFlight'][number]): void {
    let finish = Math.max(0, Math.ceil((f.expectedEnd - this.profile.now) / this.profile.stepMs));
    const target = f.targetNode ? this.nodes.get(f.targetNode) : undefined;
    if (target && finish <= target.activeFrom) finish = target.activeFrom + 1; // waits for a provisioning node
    const sp = f.partition ? this.partitions.get(f.partition) : undefined;
    if (sp) sp.locked = true;
    if (f.node && this.nodes.has(f.node) && f.action === 'scale_in') this.nodes.get(f.node)!.activeUntil = Math.min(this.steps, finish);
    if (!sp) return;
    if ((f.action === 'move' || f.action === 'colocate') && f.targetNode && this.nodes.has(f.targetNode)) {
      const eff = this.moveEffect(sp, f.targetNode, 0, finish, false);
      this.commitEffect(eff);
    } else if (f.action === 'replicate' && f.targetNode && this.nodes.has(f.targetNode)) {
      this.commitEffect(this.replicateEffect(sp, f.targetNode, 0, finish, false));
    }
  }

  /** Score change an effect would make (negative is better), with its parts. */
  evaluate(eff: Effect, weights: Weights): { delta: number; parts: ScoreParts; firstBenefitStep: number | null } {
    const parts = { ...eff.parts };
    let firstBenefitStep: number | null = null;
    for (const [nid, d] of eff.deltas) {
      const n = this.nodes.get(nid)!;
      const before = nodePenalty(n.load, n, this.targetUtil, this.stepMin);
      const after = new Float64Array(this.steps);
      for (let k = 0; k < this.steps; k++) after[k] = n.load[k]! + d[k]!;
      const nn = this.pendingNode.get(nid) ?? n;
      const a = nodePenalty(after, nn, this.targetUtil, this.stepMin);
      parts.overload += a.overload - before.overload;
      parts.headroom += a.headroom - before.headroom;
      for (let k = 0; k < this.steps; k++) {
        if (d[k]! < 0 && n.load[k]! > this.targetUtil * n.capacity) {
          if (firstBenefitStep === null || k < firstBenefitStep) firstBenefitStep = k;
          break;
        }
      }
    }
    this.pendingNode.clear();
    return { delta: totalScore(parts, weights), parts, firstBenefitStep };
  }

  /** Node shape changes an effect makes (scale in/out), seen by evaluate before commit. */
  readonly pendingNode = new Map<string, ScenarioNode>();

  commitEffect(eff: Effect): void {
    const before = new Map<string, { overload: number; headroom: number }>();
    for (const [nid, d] of eff.deltas) {
      const n = this.nodes.get(nid)!;
      before.set(nid, nodePenalty(n.load, n, this.targetUtil, this.stepMin));
      for (let k = 0; k < this.steps; k++) n.load[k]! += d[k]!;
    }
    eff.commit(this);
    for (const [nid, b] of before) {
      const n = this.nodes.get(nid)!;
      const a = nodePenalty(n.load, n, this.targetUtil, this.stepMin);
      this.parts.overload += a.overload - b.overload;
      this.parts.headroom += a.headroom - b.headroom;
    }
    this.pendingNode.clear();
    const p = eff.parts;
    this.parts.nodeMinutes += p.nodeMinutes;
    this.parts.gbMoved += p.gbMoved;
    this.parts.storageGbMinutes += p.storageGbMinutes;
    this.parts.actions += p.actions;
    this.parts.partitionMinutes += p.partitionMinutes;
    this.parts.crossLoad += p.crossLoad;
  }

  private delta(map: Map<string, Float64Array>, nid: string): Float64Array {
    let d = map.get(nid);
    if (!d) {
      d = new Float64Array(this.steps);
      map.set(nid, d);
    }
    return d;
  }

  /** Migration overhead on a node during [start, finish). */
  private overhead(map: Map<string, Float64Array>, nid: string, start: number, finish: number): void {
    const n = this.nodes.get(nid)!;
    const d = this.delta(map, nid);
    for (let k = Math.max(0, start); k < Math.min(finish, this.steps); k++) d[k]! += this.cfg.migrationOverhead * n.capacity;
  }

  /** Move the primary copy of `sp` to `to`: load leaves the source at `finish`. */
  moveEffect(sp: ScenarioPartition, to: string, start: number, finish: number, countAction = true): Effect {
    const deltas = new Map<string, Float64Array>();
    const from = sp.node;
    this.overhead(deltas, from, start, finish);
    this.overhead(deltas, to, start, finish);
    const copies = 1 + sp.replicas.length - (sp.replicas.includes(to) ? 1 : 0);
    const dFrom = this.delta(deltas, from),
      dTo = this.delta(deltas, to);
    for (let k = Math.max(finish, sp.availableFrom); k < this.steps; k++) {
      if (sp.replicas.includes(to)) {
        // the replica on `to` becomes the primary; the old primary's copy goes away
        const before = sp.read[k]! / (1 + sp.replicas.length) + sp.write[k]!;
        dFrom[k]! -= before;
        for (const r of [...sp.replicas.filter((x) => x !== to), to]) {
          this.delta(deltas, r)[k]! += sp.read[k]! / copies - sp.read[k]! / (1 + sp.replicas.length);
        }
      } else {
        const l = this.copyLoad(sp, k);
        dFrom[k]! -= l;
        dTo[k]! += l;
      }
    }
    let crossLoad = 0;
    for (const { other, weight } of this.edges.get(sp.id) ?? []) {
      const o = this.partitions.get(other);
      if (!o) continue;
      const extra = this.cfg.crossNodeCost * weight;
      const wasSplit = o.node !== from,
        nowSplit = o.node !== to;
      for (let k = finish; k < this.steps; k++) {
        if (wasSplit) {
          dFrom[k]! -= extra;
          this.delta(deltas, o.node)[k]! -= extra;
        }
        if (nowSplit) {
          dTo[k]! += extra;
          this.delta(deltas, o.node)[k]! += extra;
        }
      }
      crossLoad += ((nowSplit ? 1 : 0) - (wasSplit ? 1 : 0)) * extra * 2 * Math.max(0, this.steps - finish) * this.stepMin;
    }
    const parts = zeroParts();
    parts.gbMoved = sp.sizeBytes / GiB;
    parts.actions = countAction ? 1 : 0;
    parts.crossLoad = crossLoad;
    return {
      deltas,
      parts,
      commit: (s) => {
        sp.node = to;
        sp.replicas = sp.replicas.filter((r) => r !== to);
        sp.locked = true;
        void s;
      },
    };
  }

  replicateEffect(sp: ScenarioPartition, to: string, start: number, finish: number, countAction = true): Effect {
    const deltas = new Map<string, Float64Array>();
    this.overhead(deltas, sp.node, start, finish);
    this.overhead(deltas, to, start, finish);
    const k0 = 1 + sp.replicas.length;
    for (let k = Math.max(finish, sp.availableFrom); k < this.steps; k++) {
      for (const c of [sp.node, ...sp.replicas]) this.delta(deltas, c)[k]! += sp.read[k]! / (k0 + 1) - sp.read[k]! / k0;
      this.delta(deltas, to)[k]! += sp.read[k]! / (k0 + 1) + sp.write[k]!;
    }
    const parts = zeroParts();
    parts.gbMoved = sp.sizeBytes / GiB;
    parts.actions = countAction ? 1 : 0;
    parts.storageGbMinutes = (sp.sizeBytes / GiB) * Math.max(0, this.steps - finish) * this.stepMin;
    return {
      deltas,
      parts,
      commit: () => {
        sp.replicas = [...sp.replicas, to];
        sp.locked = true;
      },
    };
  }

  dereplicateEffect(sp: ScenarioPartition, node: string, finish: number): Effect {
    const deltas = new Map<string, Float64Array>();
    const k0 = 1 + sp.replicas.length;
    for (let k = Math.max(finish, sp.availableFrom); k < this.steps; k++) {
      for (const c of [sp.node, ...sp.replicas]) {
        if (c === node) this.delta(deltas, c)[k]! -= sp.read[k]! / k0 + sp.write[k]!;
        else this.delta(deltas, c)[k]! += sp.read[k]! / (k0 - 1) - sp.read[k]! / k0;
      }
    }
    const parts = zeroParts();
    parts.actions = 1;
    parts.storageGbMinutes = -(sp.sizeBytes / GiB) * Math.max(0, this.steps - finish) * this.stepMin;
    return {
      deltas,
      parts,
      commit: () => {
        sp.replicas = sp.replicas.filter((r) => r !== node);
        sp.locked = true;
      },
    };
  }

  /** Split `sp` into [lo, at) and [at, hi) on the same node; children exist from `finish`. */
  splitEffect(
    sp: ScenarioPartition,
    at: number,
    leftId: string,
    rightId: string,
    leftLoad: Float64Array | null,
    leftBytesFraction: number,
    finish: number,
  ): Effect {
    const parts = zeroParts();
    parts.actions = 1;
    parts.partitionMinutes = Math.max(0, this.steps - finish) * this.stepMin;
    const total = sp.read.map((r, k) => r + sp.write[k]!);
    const leftShare = new Float64Array(this.steps);
    for (let k = 0; k < this.steps; k++) {
      leftShare[k] = leftLoad && total[k]! > 0 ? Math.min(1, Math.max(0, leftLoad[k]! / total[k]!)) : leftBytesFraction;
    }
    return {
      deltas: new Map(),
      parts,
      commit: (s) => {
        const mk = (id: string, lo: number | null, hi: number | null, share: (k: number) => number, bytes: number): ScenarioPartition => ({
          id,
          spec: { ...sp.spec, id, lo, hi, sizeBytes: bytes, seriesId: undefined },
          node: sp.node,
          replicas: [...sp.replicas],
          read: sp.read.map((r, k) => r * share(k)),
          write: sp.write.map((w, k) => w * share(k)),
          upper: sp.upper.map((u, k) => u * share(k)),
          sizeBytes: bytes,
          availableFrom: finish,
          locked: false,
        });
        const lb = Math.round(sp.sizeBytes * leftBytesFraction);
        s.partitions.delete(sp.id);
        s.partitions.set(
          leftId,
          mk(leftId, sp.spec.lo, at, (k) => leftShare[k]!, lb),
        );
        s.partitions.set(
          rightId,
          mk(rightId, at, sp.spec.hi, (k) => 1 - leftShare[k]!, sp.sizeBytes - lb),
        );
      },
    };
  }

  mergeEffect(left: ScenarioPartition, right: ScenarioPartition, mergedId: string, finish: number): Effect {
    const parts = zeroParts();
    parts.actions = 1;
    parts.partitionMinutes = -Math.max(0, this.steps - finish) * this.stepMin;
    return {
      deltas: new Map(),
      parts,
      commit: (s) => {
        s.partitions.delete(left.id);
        s.partitions.delete(right.id);
        s.partitions.set(mergedId, {
          id: mergedId,
          spec: {
            ...left.spec,
            id: mergedId,
            hi: right.spec.hi,
            sizeBytes: left.sizeBytes + right.sizeBytes,
            rows: left.spec.rows + right.spec.rows,
          },
          node: left.node,
          replicas: left.replicas.filter((r) => right.replicas.includes(r)),
          read: left.read.map((r, k) => r + right.read[k]!),
          write: left.write.map((w, k) => w + right.write[k]!),
          upper: left.upper.map((u, k) => u + right.upper[k]!),
          sizeBytes: left.sizeBytes + right.sizeBytes,
          availableFrom: finish,
          locked: true,
        });
      },
    };
  }

  /** A new node, billed from `start`, serving from `ready`. */
  scaleOutEffect(nodeId: string, capacity: number, start: number, ready: number): Effect {
    const parts = zeroParts();
    parts.actions = 1;
    parts.nodeMinutes = (Math.max(0, this.steps - start) + this.tailSteps) * this.stepMin;
    return {
      deltas: new Map(),
      parts,
      commit: (s) => {
        s.nodes.set(nodeId, {
          id: nodeId,
          capacity,
          activeFrom: ready,
          activeUntil: s.steps,
          billedFrom: start,
          load: new Float64Array(s.steps),
          isNew: true,
        });
      },
    };
  }

  /** Remove a node at `at` (its copies must be moved off by then). */
  scaleInEffect(nodeId: string, at: number): Effect {
    const n = this.nodes.get(nodeId)!;
    const parts = zeroParts();
    parts.actions = 1;
    parts.nodeMinutes = -(Math.max(0, n.activeUntil - at) + this.tailSteps) * this.stepMin;
    this.pendingNode.set(nodeId, { ...n, activeUntil: Math.min(n.activeUntil, at) });
    return {
      deltas: new Map([[nodeId, new Float64Array(this.steps)]]),
      parts,
      commit: (s) => {
        s.nodes.get(nodeId)!.activeUntil = Math.min(n.activeUntil, at);
      },
    };
  }

  /** Score of the scenario with the given weights. */
  score(weights: Weights): number {
    return totalScore(this.parts, weights);
  }

  /** Peak utilisation of a node over [from, to). */
  peakUtil(nid: string, from = 0, to = this.steps): number {
    const n = this.nodes.get(nid)!;
    let m = 0;
    for (let k = from; k < to; k++) m = Math.max(m, n.load[k]! / n.capacity);
    return m;
  }

  /**
   * A node's planned load per step plus the upper end of its forecast interval: the planned
   * (risk-adjusted) load and, on top, the root-sum-square of each copy's distance from its plan
   * to its forecast upper bound (migration overhead and co-access as planned). Scale-in is
   * decided on this, scale-out on the plan alone: the gap is the hysteresis, as wide as the
   * forecast is uncertain.
   */
  upperLoad(nid: string): Float64Array {
    const n = this.nodes.get(nid)!;
    const out = n.load.slice();
    const extra2 = new Float64Array(this.steps);
    for (const sp of this.partitions.values()) {
      if (sp.node !== nid && !sp.replicas.includes(nid)) continue;
      const copies = 1 + sp.replicas.length;
      for (let k = sp.availableFrom; k < this.steps; k++) {
        const planned = sp.read[k]! + sp.write[k]!;
        const extra = sp.upper[k]! - planned;
        if (extra <= 0) continue;
        const rf = planned > 0 ? sp.read[k]! / planned : this.cfg.readFractionDefault;
        extra2[k]! += (extra * (rf / copies + (1 - rf))) ** 2;
      }
    }
    // Partitions' forecast errors taken as independent, as the key buckets' are in a partition.
    for (let k = 0; k < this.steps; k++) out[k]! += Math.sqrt(extra2[k]!);
    return out;
  }

  activeNodes(step: number): ScenarioNode[] {
    return [...this.nodes.values()].filter((n) => n.activeFrom <= step && n.activeUntil > step);
  }

  /** Deep copy (timelines and placement), for trying compound candidates. */
  clone(): Scenario {
    const c = Object.create(Scenario.prototype) as Scenario;
    Object.assign(c, { state: this.state, profile: this.profile, cfg: this.cfg, targetUtil: this.targetUtil });
    (c as { nodes: Map<string, ScenarioNode> }).nodes = new Map([...this.nodes].map(([k, n]) => [k, { ...n, load: n.load.slice() }]));
    (c as { partitions: Map<string, ScenarioPartition> }).partitions = new Map(
      [...this.partitions].map(([k, p]) => [k, { ...p, replicas: [...p.replicas] }]),
    );
    (c as { edges: Map<string, { other: string; weight: number }[]> }).edges = this.edges;
    (c as { pendingNode: Map<string, ScenarioNode> }).pendingNode = new Map();
    c.parts = { ...this.parts };
    return c;
  }
}

/** A plan's summary numbers for reporting and for the selector's features. */
export interface PlanMetrics {
  score: number;
  parts: ScoreParts;
  peakUtil: number;
}

export function planMetrics(s: Scenario, weights: Weights): PlanMetrics {
  let peak = 0;
  for (const n of s.nodes.values()) peak = Math.max(peak, s.peakUtil(n.id));
  return { score: s.score(weights), parts: { ...s.parts }, peakUtil: peak };
}
