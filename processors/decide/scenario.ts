/**
 * A scenario: a placement over the horizon (nodes with capacity and active steps, partitions on
 * nodes, replicas, changes scheduled at start/finish steps) with node load timelines kept
 * incrementally, so a candidate is scored by the change it makes on the few nodes it touches.
 * What each action does to a scenario is its `Effect`, built next to its planner in actions/.
 *
 * Replicas share a partition's read load; writes land on every copy. A migration uses
 * `migrationOverhead × capacity` on its source and target until it finishes; its duration is
 * bytes / throttle rate.
 */
import type { DecideConfig, Weights } from './config.js';
import { GiB, type ScoreParts, nodePenalty, penaltyChange, totalScore, zeroParts } from './costModel.js';
import type { LoadProfile, PartitionLoad } from './loadProfile.js';
import type { ClusterState, PartitionSpec } from './state.js';

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

  /** The parts an effect would change, and the first step it relieves a node above target. */
  measure(eff: Effect): { parts: ScoreParts; firstBenefitStep: number | null } {
    const parts = { ...eff.parts };
    let firstBenefitStep: number | null = null;
    for (const [nid, d] of eff.deltas) {
      const n = this.nodes.get(nid)!;
      const change = penaltyChange(n.load, d, n, this.pendingNode.get(nid) ?? n, this.targetUtil, this.stepMin);
      parts.overload += change.overload;
      parts.headroom += change.headroom;
      for (let k = 0; k < this.steps; k++) {
        if (d[k]! < 0 && n.load[k]! > this.targetUtil * n.capacity) {
          if (firstBenefitStep === null || k < firstBenefitStep) firstBenefitStep = k;
          break;
        }
      }
    }
    this.pendingNode.clear();
    return { parts, firstBenefitStep };
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

  /** The load change on node `nid` in an effect's deltas (created empty on first use). */
  deltaFor(map: Map<string, Float64Array>, nid: string): Float64Array {
    let d = map.get(nid);
    if (!d) {
      d = new Float64Array(this.steps);
      map.set(nid, d);
    }
    return d;
  }

  /** Migration overhead on a node during [start, finish). */
  addOverhead(map: Map<string, Float64Array>, nid: string, start: number, finish: number): void {
    const n = this.nodes.get(nid)!;
    const d = this.deltaFor(map, nid);
    for (let k = Math.max(0, start); k < Math.min(finish, this.steps); k++) d[k]! += this.cfg.migrationOverhead * n.capacity;
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
    const nodes = new Map([...this.nodes].map(([k, n]) => [k, { ...n, load: n.load.slice() }]));
    // Partitions field by field rather than by spread: the planner clones a scenario for every
    // compound candidate it weighs, and a literal of known shape is copied several times faster.
    const partitions = new Map<string, ScenarioPartition>();
    for (const [k, p] of this.partitions) {
      partitions.set(k, {
        id: p.id,
        spec: p.spec,
        node: p.node,
        replicas: p.replicas.slice(),
        read: p.read,
        write: p.write,
        upper: p.upper,
        sizeBytes: p.sizeBytes,
        availableFrom: p.availableFrom,
        locked: p.locked,
      });
    }
    (c as { nodes: Map<string, ScenarioNode> }).nodes = nodes;
    (c as { partitions: Map<string, ScenarioPartition> }).partitions = partitions;
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
