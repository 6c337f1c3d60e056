/**
 * Discrete-time cluster simulator. Nodes have a capacity in queries per step; partitions are
 * key-unit ranges of a workload's tables, loaded from the trace; a policy sees the past (view.ts:
 * a later step throws; only static and clairvoyant may declare `readsAhead` and get the whole
 * trace) and issues the SAME command objects (PartitionCommand / ShardCommand / ResourceCommand)
 * the executors consume, and gets CommandResults back. A policy may answer asynchronously (the
 * predictive one awaits the product's forecaster): the step loop awaits it.
 *
 * Per step t: finish ops due at t and start ops whose dependencies finished (operations.ts) →
 * ask the policy → accept or reject its commands → load (load.ts) → metrics (from evalStart):
 * SLA-violation minutes = Σ over nodes of the minutes a node's load exceeds its capacity;
 * node-minutes = nodes held (provisioning included) × minutes; peak utilisation; bytes moved
 * (counted when a data move starts); actions = commands accepted.
 */
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { type ClusterState, type PartitionSpec, buildState, decideConfig, rangePartitionId } from '../../processors/decide/index.js';
import { StateError } from '../../lib/errors.js';
import type { Workload } from './workload.js';
import { stepLoad } from './load.js';
import { SimOperations } from './operations.js';
import { type PastView, pastView } from './view.js';

/** The only policies the simulator hands the whole trace: sized for the peak, and fed the true future. */
export const LOOKAHEAD_POLICIES: ReadonlySet<string> = new Set(['static', 'clairvoyant']);

export interface SimConfig {
  /** Queries per step a node serves. */
  capacity: number;
  initialNodes: number;
  partitionsPerTable: number;
  throttleBytesPerSec: number;
  migrationOverhead: number;
  provisioningMs: number;
  crossNodeCost: number;
  store: string;
  /** How long issued commands stay in `recent` (cooldown memory). */
  recentMs: number;
  /** Shards a rekey copies at once (the decide stage's safety.maxConcurrentMoves). */
  rekeyStreams: number;
  /** Keep per-step node loads (for tests and plots). */
  keepTimeline: boolean;
  /** Data moves at once, and their throttle rates together, when moves waiting on others start (decide's safety limits). */
  maxConcurrentMoves: number;
  maxBytesPerMinute: number;
}

const DECIDE_SAFETY = decideConfig().safety;

export const DEFAULT_SIM: SimConfig = {
  capacity: 6000,
  initialNodes: 4,
  partitionsPerTable: 16,
  throttleBytesPerSec: 16 * 1024 * 1024,
  migrationOverhead: 0.05,
  provisioningMs: 300_000,
  crossNodeCost: 0.5,
  store: 'sim',
  recentMs: 3_600_000,
  rekeyStreams: 4,
  keepTimeline: false,
  maxConcurrentMoves: DECIDE_SAFETY.maxConcurrentMoves,
  maxBytesPerMinute: DECIDE_SAFETY.maxBytesPerMinute,
};

export interface Observation {
  step: number;
  now: number;
  state: ClusterState;
  /** The trace up to the previous step: reading a later step throws. */
  past: PastView;
  /** The whole trace, future included: only for a policy that declares `readsAhead`. */
  ahead?: Workload;
  cfg: SimConfig;
  /** Loads measured in the previous step. */
  lastNodeLoad: ReadonlyMap<string, number>;
  lastPartitionLoad: ReadonlyMap<string, { reads: number; writes: number }>;
  /** Co-access measured in the previous step, between partitions. */
  lastCoAccess: { a: string; b: string; weight: number }[];
  /** Results since the previous step. */
  results: CommandResult[];
  /** Per-step metrics so far (index = step). */
  history: StepMetrics[];
}

export interface StepMetrics {
  violationMinutes: number;
  nodes: number;
  bytesStarted: number;
  maxUtil: number;
  failed: number;
}

export interface Policy {
  name: string;
  /**
   * Static and clairvoyant only: the policy reads the future (sized for the peak, fed the true
   * load). Every other policy sees the past alone.
   */
  readsAhead?: true;
  /** Nodes at the start; default cfg.initialNodes. `ahead` is the whole trace for a policy that reads ahead, else null. */
  initialNodes?(cfg: SimConfig, ahead: Workload | null): number;
  act(obs: Observation): AnyCommand[] | Promise<AnyCommand[]>;
}

export interface SimMetrics {
  policy: string;
  workload: string;
  violationMinutes: number;
  peakUtil: number;
  nodeMinutes: number;
  bytesMoved: number;
  actions: number;
  rejected: number;
  failed: number;
  evalMinutes: number;
  maxNodes: number;
  timeline?: StepMetrics[];
}

/** Hash placement: partitions in FNV-hash order dealt round-robin over the nodes. */
export function initialState(w: Workload, cfg: SimConfig, nodes: number): ClusterState {
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const partitions: PartitionSpec[] = [];
  w.tables.forEach((t) => {
    const n = Math.min(cfg.partitionsPerTable, t.units);
    for (let i = 0; i < n; i++) {
      const lo = Math.floor((i * t.units) / n),
        hi = Math.floor(((i + 1) * t.units) / n);
      const id = rangePartitionId(t.name, lo, hi);
      partitions.push({
        id,
        table: t.name,
        store: cfg.store,
        lo,
        hi,
        sizeBytes: (hi - lo) * w.unitBytes,
        rows: (hi - lo) * 1_000_000,
        node: '',
      });
    }
  });
  // round-robin over a hash order: balanced counts, placement independent of key order
  const order = [...partitions].sort((a, b) => fnv(a.id) - fnv(b.id));
  order.forEach((p, i) => {
    p.node = ids[i % ids.length]!;
  });
  return buildState({
    tables: w.tables.map((t) => ({ name: t.name, store: cfg.store, storeKind: 'postgres', keyColumns: ['id'] })),
    partitions,
    nodes: ids.map((id) => ({ id, store: cfg.store, storeKind: 'postgres', capacity: cfg.capacity })),
  });
}

function fnv(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** Whether `policy` may read ahead: it declares so and is one of LOOKAHEAD_POLICIES (else a StateError). */
function readsAhead(policy: Policy): boolean {
  if (!policy.readsAhead) return false;
  if (!LOOKAHEAD_POLICIES.has(policy.name))
    throw new StateError(`policy ${policy.name} declares look-ahead: only ${[...LOOKAHEAD_POLICIES].join(' and ')} may read the future`);
  return true;
}

export async function simulate(w: Workload, policy: Policy, cfgIn: Partial<SimConfig> = {}): Promise<SimMetrics> {
  const cfg: SimConfig = { ...DEFAULT_SIM, ...cfgIn };
  const stepMin = w.stepMs / 60_000;
  const ahead = readsAhead(policy);
  const history: StepMetrics[] = [];
  const m: SimMetrics = {
    policy: policy.name,
    workload: w.name,
    violationMinutes: 0,
    peakUtil: 0,
    nodeMinutes: 0,
    bytesMoved: 0,
    actions: 0,
    rejected: 0,
    failed: 0,
    evalMinutes: Math.max(0, w.steps - w.evalStart) * stepMin,
    maxNodes: 0,
  };
  const ops = new SimOperations(
    initialState(w, cfg, policy.initialNodes?.(cfg, ahead ? w : null) ?? cfg.initialNodes),
    w,
    cfg,
    (t, bytes) => {
      if (t >= w.evalStart) m.bytesMoved += bytes;
      history[t]!.bytesStarted += bytes;
    },
  );
  m.maxNodes = ops.state.nodes.length;
  let lastNodeLoad = new Map<string, number>();
  let lastPartitionLoad = new Map<string, { reads: number; writes: number }>();
  let lastCoAccess: { a: string; b: string; weight: number }[] = [];
  const past = pastView(w);

  for (let t = 0; t < w.steps; t++) {
    const failedBefore = ops.failed;
    history[t] = { violationMinutes: 0, nodes: 0, bytesStarted: 0, maxUtil: 0, failed: 0 };
    ops.advance(t);
    past.advance(t);
    const results = ops.results;
    ops.results = [];
    const cmds = await policy.act({
      step: t,
      now: w.startTs + t * w.stepMs,
      state: ops.state,
      past,
      ...(ahead ? { ahead: w } : {}),
      cfg,
      lastNodeLoad,
      lastPartitionLoad,
      lastCoAccess,
      results,
      history,
    });
    ops.submit(cmds, t);
    const state = ops.state;
    const { nodeLoad, partitionLoad, coAccess } = stepLoad(w, state, t, ops.runningCommands(), cfg);

    // Metrics.
    const hm = history[t]!;
    for (const n of state.nodes) {
      const load = nodeLoad.get(n.id) ?? 0;
      const util = n.status === 'provisioning' ? 0 : load / n.capacity;
      hm.maxUtil = Math.max(hm.maxUtil, util);
      if (util > 1) hm.violationMinutes += stepMin;
    }
    hm.nodes = state.nodes.length;
    hm.failed = ops.failed - failedBefore;
    if (t >= w.evalStart) {
      m.violationMinutes += hm.violationMinutes;
      m.nodeMinutes += hm.nodes * stepMin;
      m.peakUtil = Math.max(m.peakUtil, hm.maxUtil);
      m.maxNodes = Math.max(m.maxNodes, hm.nodes);
    }
    lastNodeLoad = nodeLoad;
    lastPartitionLoad = partitionLoad;
    lastCoAccess = coAccess;
  }
  m.actions = ops.accepted;
  m.rejected = ops.rejected;
  m.failed = ops.failed;
  if (cfg.keepTimeline) m.timeline = history;
  return m;
}
