/**
 * Discrete-time cluster simulator. Nodes have a capacity in queries per step; partitions are
 * key-unit ranges of a workload's tables, loaded from the trace; a policy sees the past (view.ts:
 * a later step throws; only a policy that declares `readsAhead` gets the whole trace) and
 * issues the SAME command objects (PartitionCommand / ShardCommand / ResourceCommand) the
 * executors consume, and gets CommandResults back.
 *
 * Per step t: finish ops due at t (effect via decide/state.applyCommand, the planner's own
 * model of a command) → start ops whose dependencies finished → ask the policy → accept or
 * reject its commands → load (load.ts) → metrics (from evalStart): SLA-violation minutes = Σ
 * over nodes of the minutes a node's load exceeds its capacity; node-minutes = nodes held (provisioning included) × minutes; peak
 * utilisation; bytes moved (counted when a data move starts); actions = commands accepted.
 *
 * Durations: data moves take ceil(bytes / throttle / step) steps; a split, merge, dereplicate
 * or scale_in takes one step; scale_out takes ceil(provisioningMs / step) steps, the node
 * billed from the command and serving from then on. Recommendations finish at once.
 *
 * About 400 lines: `simulate` is one loop whose closures share the run's state (operations
 * running, pending and done), kept whole so a step reads in its order from top to bottom.
 */
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import {
  type ClusterState,
  type InFlight,
  type PartitionSpec,
  type RecentAction,
  applyCommand,
  buildState,
  rangePartitionId,
} from '../../processors/decide/index.js';
import { recentFromCommand } from '../../processors/decide/safety.js';
import { StateError } from '../../lib/errors.js';
import type { Workload } from './workload.js';
import { DATA_MOVES, stepLoad } from './load.js';
import { type PastView, pastView } from './view.js';

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
  /** Keep per-step node loads (for tests and plots). */
  keepTimeline: boolean;
}

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
  keepTimeline: false,
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
  act(obs: Observation): AnyCommand[];
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

interface Op {
  cmd: AnyCommand;
  start: number;
  finish: number;
  bytes: number;
  deps: string[];
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

function result(
  cmd: AnyCommand,
  ts: number,
  status: CommandResult['status'],
  reason: string | null,
  bytes = 0,
  durationMs = 0,
): CommandResult {
  return {
    commandId: cmd.commandId,
    ts,
    topic: `shardcast.commands.${cmd.kind}`,
    store: cmd.store,
    action: cmd.action,
    status,
    progress: status === 'SUCCEEDED' ? 1 : 0,
    reason,
    rowsCopied: 0,
    bytesMoved: bytes,
    verified: status === 'SUCCEEDED' ? true : null,
    durationMs,
    executor: 'simulator',
    details: {},
  };
}

export function simulate(w: Workload, policy: Policy, cfgIn: Partial<SimConfig> = {}): SimMetrics {
  const cfg: SimConfig = { ...DEFAULT_SIM, ...cfgIn };
  const stepMin = w.stepMs / 60_000;
  let state = initialState(w, cfg, policy.initialNodes?.(cfg, policy.readsAhead ? w : null) ?? cfg.initialNodes);
  const running = new Map<string, Op>();
  const pending: Op[] = [];
  const done = new Map<string, 'SUCCEEDED' | 'FAILED'>();
  let recent: RecentAction[] = [];
  let results: CommandResult[] = [];
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
    maxNodes: state.nodes.length,
  };
  let lastNodeLoad = new Map<string, number>();
  let lastPartitionLoad = new Map<string, { reads: number; writes: number }>();
  let lastCoAccess: { a: string; b: string; weight: number }[] = [];
  const past = pastView(w);

  const withState = (s: ClusterState, t: number): ClusterState => {
    const now = w.startTs + t * w.stepMs;
    const inFlight: InFlight[] = [...running.values(), ...pending].map((o) => ({
      commandId: o.cmd.commandId,
      action: o.cmd.action,
      partition: o.cmd.kind !== 'resource' ? o.cmd.partition : null,
      sourceNode: o.cmd.kind === 'shard' ? o.cmd.sourceNode : null,
      targetNode: o.cmd.kind === 'shard' ? o.cmd.targetNode : null,
      node: o.cmd.kind === 'resource' ? (o.cmd.node ?? o.cmd.params.nodeId ?? null) : null,
      bytes: o.bytes,
      startedAt: w.startTs + o.start * w.stepMs,
      expectedEnd: running.has(o.cmd.commandId) ? w.startTs + o.finish * w.stepMs : now + o.cmd.estimatedDurationMs + w.stepMs,
      waiting: !running.has(o.cmd.commandId),
    }));
    recent = recent.filter((r) => now - r.ts < cfg.recentMs);
    return buildState({ ...s, tables: [...s.tables], partitions: [...s.partitions], nodes: [...s.nodes], inFlight, recent: [...recent] });
  };

  const busy = (pid: string | null) =>
    pid !== null && [...running.values(), ...pending].some((o) => o.cmd.kind !== 'resource' && o.cmd.partition === pid);

  const start = (op: Op, t: number): boolean => {
    const c = op.cmd;
    // validate against the current view, as an executor would
    if (
      c.kind !== 'resource' &&
      c.partition !== null &&
      !state.partitionById.has(c.partition) &&
      !['rekey', 'composite_index', 'derived_attribute', 'precompute'].includes(c.action)
    ) {
      fail(op, t, `unknown partition ${c.partition}`);
      return false;
    }
    if (c.kind === 'shard' && c.targetNode && !state.nodeById.has(c.targetNode)) {
      fail(op, t, `unknown node ${c.targetNode}`);
      return false;
    }
    if (c.kind === 'shard' && c.targetNode) {
      const n = state.nodeById.get(c.targetNode)!;
      if (n.status === 'provisioning') {
        pending.push(op);
        return false;
      } // wait for the node
    }
    let steps = 1,
      bytes = 0;
    if (c.kind === 'shard' && DATA_MOVES.has(c.action)) {
      bytes = state.partitionById.get(c.partition!)!.sizeBytes;
      steps = Math.max(1, Math.ceil(bytes / cfg.throttleBytesPerSec / (w.stepMs / 1000)));
    } else if (c.kind === 'resource' && c.action === 'scale_out') {
      steps = Math.max(1, Math.ceil(cfg.provisioningMs / w.stepMs));
      const id = c.params.nodeId ?? c.node;
      if (!id || state.nodeById.has(id)) {
        fail(op, t, `scale_out: bad or existing node id ${id}`);
        return false;
      }
      state = buildState({
        ...state,
        nodes: [
          ...state.nodes,
          {
            id,
            store: c.store,
            storeKind: c.storeKind,
            capacity: Number(c.params.capacity ?? cfg.capacity),
            status: 'provisioning',
            readyAt: w.startTs + (t + steps) * w.stepMs,
          },
        ],
      });
    } else if (['rekey', 'composite_index', 'derived_attribute', 'precompute'].includes(c.action)) {
      steps = 0;
    }
    op.start = t;
    op.finish = t + steps;
    op.bytes = bytes;
    if (t >= w.evalStart) m.bytesMoved += bytes;
    if (history[t]) history[t]!.bytesStarted += bytes;
    running.set(c.commandId, op);
    results.push(result(c, w.startTs + t * w.stepMs, 'RUNNING', null));
    if (steps === 0) finishOp(op, t);
    return true;
  };

  const fail = (op: Op, t: number, reason: string) => {
    done.set(op.cmd.commandId, 'FAILED');
    m.failed++;
    results.push(result(op.cmd, w.startTs + t * w.stepMs, 'FAILED', reason));
  };

  const finishOp = (op: Op, t: number) => {
    running.delete(op.cmd.commandId);
    const c = op.cmd;
    try {
      if (c.kind === 'resource' && c.action === 'scale_out') {
        const id = c.params.nodeId ?? c.node;
        state = buildState({
          ...state,
          nodes: state.nodes.map((n) => (n.id === id ? { ...n, status: 'active' as const, readyAt: null } : n)),
        });
      } else {
        state = applyCommand(state, c);
      }
      done.set(c.commandId, 'SUCCEEDED');
      results.push(result(c, w.startTs + t * w.stepMs, 'SUCCEEDED', null, op.bytes, (op.finish - op.start) * w.stepMs));
    } catch (e) {
      if (!(e instanceof StateError)) throw e;
      fail(op, t, e.message);
    }
  };

  for (let t = 0; t < w.steps; t++) {
    const now = w.startTs + t * w.stepMs;
    history[t] = { violationMinutes: 0, nodes: 0, bytesStarted: 0, maxUtil: 0, failed: 0 };
    for (const op of [...running.values()].sort((a, b) => a.finish - b.finish || (a.cmd.commandId < b.cmd.commandId ? -1 : 1))) {
      if (op.finish <= t) finishOp(op, t);
    }
    for (let again = true; again; ) {
      again = false;
      for (const op of [...pending]) {
        const st = op.deps.map((d) => done.get(d));
        if (st.some((s) => s === 'FAILED')) {
          pending.splice(pending.indexOf(op), 1);
          fail(op, t, 'a command it depends on failed');
          again = true;
          continue;
        }
        if (st.every((s) => s === 'SUCCEEDED')) {
          const tn = op.cmd.kind === 'shard' && op.cmd.targetNode ? state.nodeById.get(op.cmd.targetNode) : undefined;
          if (tn?.status === 'provisioning') continue;
          pending.splice(pending.indexOf(op), 1);
          if (start(op, t)) again = true;
        }
      }
    }
    state = withState(state, t);
    past.advance(t);
    const cmds = policy.act({
      step: t,
      now,
      state,
      past,
      ...(policy.readsAhead ? { ahead: w } : {}),
      cfg,
      lastNodeLoad,
      lastPartitionLoad,
      lastCoAccess,
      results,
      history,
    });
    results = [];
    for (const c of cmds) {
      const known = running.has(c.commandId) || pending.some((p) => p.cmd.commandId === c.commandId) || done.has(c.commandId);
      if (known) {
        m.rejected++;
        results.push(result(c, now, 'REJECTED', 'duplicate command id'));
        continue;
      }
      const deps = (c.params.dependsOn ?? '').split(',').filter(Boolean);
      if (deps.length === 0 && c.kind !== 'resource' && busy(c.partition)) {
        m.rejected++;
        results.push(result(c, now, 'REJECTED', `partition ${c.partition} has a change in progress`));
        continue;
      }
      m.actions++;
      recent.push(recentFromCommand(c));
      results.push(result(c, now, 'ACCEPTED', null));
      const op: Op = { cmd: c, start: t, finish: t, bytes: 0, deps };
      if (deps.length) pending.push(op);
      else start(op, t);
    }
    state = withState(state, t);

    const {
      nodeLoad,
      partitionLoad: partLoad,
      coAccess,
    } = stepLoad(
      w,
      state,
      t,
      [...running.values()].map((op) => op.cmd),
      cfg,
    );
    lastCoAccess = coAccess;

    // Metrics.
    const hm = history[t]!;
    for (const n of state.nodes) {
      const load = nodeLoad.get(n.id) ?? 0;
      const util = n.status === 'provisioning' ? 0 : load / n.capacity;
      hm.maxUtil = Math.max(hm.maxUtil, util);
      if (util > 1) hm.violationMinutes += stepMin;
    }
    hm.nodes = state.nodes.length;
    if (t >= w.evalStart) {
      m.violationMinutes += hm.violationMinutes;
      m.nodeMinutes += hm.nodes * stepMin;
      m.peakUtil = Math.max(m.peakUtil, hm.maxUtil);
      m.maxNodes = Math.max(m.maxNodes, hm.nodes);
    }
    lastNodeLoad = nodeLoad;
    lastPartitionLoad = partLoad;
  }
  if (cfg.keepTimeline) m.timeline = history;
  return m;
}
