/**
 * What every action planner produces: candidates made of planned operations (each becomes one
 * command), with a function that applies them to a Scenario so the planner can score them.
 */
import { StateError } from '../../../lib/errors.js';
import type { AnyCommand, PartitionAction, ResourceAction, ShardAction, StoreKind } from '../../../schemas/types.js';
import type { DecideConfig } from '../config.js';
import type { LoadProfile } from '../loadProfile.js';
import type { Effect, Scenario, ScenarioNode, ScenarioPartition } from '../scenario.js';
import type { ClusterState, ClusterStateInput, NodeSpec, PartitionSpec, TableSpec } from '../state.js';

export type Action = PartitionAction | ShardAction | ResourceAction;

export interface PlannedOp {
  kind: 'partition' | 'shard' | 'resource';
  action: Action;
  store: string;
  storeKind: StoreKind;
  table: string | null;
  partition: string | null;
  sourceNode: string | null;
  targetNode: string | null;
  node: string | null;
  params: Record<string, string>;
  bytes: number;
  durationMs: number;
  startStep: number;
  finishStep: number;
  /** Indices of ops in the same candidate this one waits for. */
  dependsOn: number[];
  /** Target for ids, cooldowns and flap checks (partition id, or node id). */
  target: string;
}

export interface Candidate {
  /** Main action, for reporting. */
  action: Action;
  ops: PlannedOp[];
  /** One line. */
  explanation: string;
  /** Applies the ops to a scenario (placement and timelines). */
  run(s: Scenario): void;
  /** Incremental effect, for single-op candidates. */
  single?: (s: Scenario) => Effect;
  /** Recommendations (rekey, indexes, precomputation) carry their own benefit estimate. */
  recommendation?: { benefit: number; cost: number };
}

/**
 * What a change still in flight does to the baseline scenario, from step `finish` (when it is
 * expected to end); `sp` is its partition, if it has one in the scenario.
 */
export type InFlightEffect = (s: Scenario, f: ClusterState['inFlight'][number], sp: ScenarioPartition | undefined, finish: number) => void;

export interface PlanContext {
  s: Scenario;
  state: ClusterState;
  profile: LoadProfile;
  cfg: DecideConfig;
  now: number;
  /**
   * A search that depends only on the scenario as it stands, made once for every strategy of the
   * round that reaches the same scenario (planner.ts); absent, `make` runs each time. What it
   * returns is shared, so it names scenario objects by id, not by reference.
   */
  reuse?: <T>(name: string, make: () => T) => T;
}

export type CommandKind = AnyCommand['kind'];
type CommandByKind = { [K in CommandKind]: Extract<AnyCommand, { kind: K }> };
export type CommandOf<K extends CommandKind> = CommandByKind[K];

/** The view applyCommand rebuilds, with the lookups an action's change needs. */
export interface ApplyContext {
  /** The view before the command. */
  state: ClusterState;
  /** Its lists, which the change edits in place (buildState indexes them afterwards). */
  input: ClusterStateInput & { tables: TableSpec[]; partitions: PartitionSpec[]; nodes: NodeSpec[] };
  /** The partition, or a StateError naming the action. */
  part(id: string | null): PartitionSpec;
  /** The node, or a StateError naming the action. */
  node(id: string | null): NodeSpec;
  /** Puts `next` where partition `id` was. */
  replace(id: string, next: PartitionSpec[]): void;
}

/**
 * One placement action, as a unit: everything the decide code knows of it (the registry lists
 * them; engine, safety, baseline and applyCommand look it up there instead of switching on names).
 */
export interface PlacementAction<K extends CommandKind = CommandKind> {
  /** The kind of command it is issued as. */
  kind: K;
  plan: (ctx: PlanContext) => Candidate[];
  /** What a command of this action still in flight does to the baseline; none: nothing yet. */
  inFlight?: InFlightEffect;
  /** The part of a command's id that names what it changes (with action and window: stable). */
  idTarget(op: PlannedOp): string;
  /** Partition ids a command creates or consumes besides its target (split children, merge partner). */
  related(params: Record<string, string>): string[];
  /** The action this one undoes: blocked within the flap window after one touching the same ids. */
  reverses?: Action;
  /** Copies bytes between nodes: counts against the concurrent-move and bandwidth limits. */
  movesData: boolean;
  /** Moves the primary copy: a move back to the node just left is blocked for moveBackMs. */
  movesPrimary?: boolean;
  /** Exempt from the per-target cooldown (load that arrives must be met). */
  noCooldown?: boolean;
  /** Adds a node: in flight, it goes on the baseline first, since the moves onto that node wait for it. */
  addsNode?: boolean;
  /** Removes a node: in flight, it goes on the baseline last, once the moves off that node are on it. */
  removesNode?: boolean;
  /** The command's change to the cluster view once finished; throws StateError when it does not fit. */
  apply(cx: ApplyContext, cmd: CommandOf<K>): void;
}

/** A numeric command parameter, or a StateError. */
export function numParam(params: Record<string, string>, key: string): number {
  const v = Number(params[key]);
  if (params[key] === undefined || !Number.isFinite(v)) throw new StateError(`parameter ${key} missing or not a number`);
  return v;
}

/** The ids among `ids` that are set. */
export function presentIds(...ids: (string | undefined)[]): string[] {
  return ids.filter((x): x is string => !!x);
}

export function storeKindOf(state: ClusterState, store: string): StoreKind {
  return state.nodes.find((n) => n.store === store)?.storeKind ?? state.tables.find((t) => t.store === store)?.storeKind ?? 'postgres';
}

export function durationSteps(ms: number, stepMs: number): number {
  return Math.max(1, Math.ceil(ms / stepMs));
}

export function totalLoad(sp: Pick<ScenarioPartition, 'read' | 'write'>, k: number): number {
  return sp.read[k]! + sp.write[k]!;
}

export function peakTotal(sp: Pick<ScenarioPartition, 'read' | 'write'>, from = 0): number {
  let m = 0;
  for (let k = from; k < sp.read.length; k++) m = Math.max(m, sp.read[k]! + sp.write[k]!);
  return m;
}

/** Peak load one copy puts on its node. */
export function peakCopy(s: Scenario, sp: ScenarioPartition, from = 0): number {
  let m = 0;
  for (let k = from; k < s.steps; k++) m = Math.max(m, s.copyLoad(sp, k));
  return m;
}

export function readFraction(sp: Pick<ScenarioPartition, 'read' | 'write'>): number {
  let r = 0,
    t = 0;
  for (let k = 0; k < sp.read.length; k++) {
    r += sp.read[k]!;
    t += sp.read[k]! + sp.write[k]!;
  }
  return t > 0 ? r / t : 0;
}

/**
 * Peak load one copy of `sp` would put on its node with `replicas` replicas beside its primary:
 * the writes reach every copy, the reads divide among them.
 */
export function peakPerCopyWith(sp: Pick<ScenarioPartition, 'read' | 'write'>, replicas: number, from = 0): number {
  let m = 0;
  for (let k = from; k < sp.read.length; k++) m = Math.max(m, sp.read[k]! / (1 + replicas) + sp.write[k]!);
  return m;
}

/** Nodes whose planned load goes above target × capacity somewhere in the horizon, worst first. */
export function hotNodes(s: Scenario): { node: ScenarioNode; firstStep: number; peakUtil: number }[] {
  const out: { node: ScenarioNode; firstStep: number; peakUtil: number }[] = [];
  for (const n of s.nodes.values()) {
    let first = -1,
      peak = 0;
    for (let k = 0; k < s.steps; k++) {
      const cap = k >= n.activeFrom && k < n.activeUntil ? n.capacity : 0;
      const u = cap > 0 ? n.load[k]! / cap : n.load[k]! > 1e-9 ? Infinity : 0;
      if (u > s.targetUtil && first < 0) first = k;
      peak = Math.max(peak, u);
    }
    if (first >= 0) out.push({ node: n, firstStep: first, peakUtil: peak });
  }
  return out.sort((a, b) => b.peakUtil - a.peakUtil);
}

/** Target nodes ordered by peak utilisation over the horizon (from `from`), least first. */
export function coolNodes(s: Scenario, exclude: ReadonlySet<string>, from = 0): ScenarioNode[] {
  return [...s.nodes.values()]
    .filter((n) => !exclude.has(n.id) && n.activeUntil >= s.steps)
    .map((n) => ({ n, u: s.peakUtil(n.id, Math.max(from, n.activeFrom)) }))
    .sort((a, b) => a.u - b.u || (a.n.id < b.n.id ? -1 : 1))
    .map((x) => x.n);
}

export function partitionsOn(s: Scenario, nodeId: string): ScenarioPartition[] {
  return [...s.partitions.values()].filter((p) => p.node === nodeId);
}

/** The PlannedOp of a primary-copy move (or of a new copy: replicate carries the same fields). */
export function moveOp(
  ctx: PlanContext,
  sp: ScenarioPartition,
  to: string,
  start: number,
  action: 'move' | 'colocate' | 'replicate' = 'move',
  dependsOn: number[] = [],
): PlannedOp {
  const ms = Math.ceil((sp.sizeBytes / ctx.cfg.throttleBytesPerSec) * 1000);
  const st = durationSteps(ms, ctx.cfg.stepMs);
  return {
    kind: 'shard',
    action,
    store: sp.spec.store,
    storeKind: storeKindOf(ctx.state, sp.spec.store),
    table: sp.spec.table,
    partition: sp.id,
    sourceNode: sp.node,
    targetNode: to,
    node: null,
    params: { bytes: String(sp.sizeBytes) },
    bytes: sp.sizeBytes,
    durationMs: ms,
    startStep: start,
    finishStep: start + st,
    dependsOn,
    target: sp.id,
  };
}

/**
 * The registry's data moves (DATA_MOVE_ACTIONS, from each action's `movesData`): the planners
 * that count slots sit below the registry and cannot import it, so a unit test holds the two equal.
 */
export const MOVE_SLOT_ACTIONS: ReadonlySet<string> = new Set(['move', 'colocate', 'replicate']);

/**
 * Data-move slots (safety.maxConcurrentMoves) free at plan step `step`: in-flight moves still
 * running then hold theirs (moves waiting on a dependency are counted as running: they start
 * before anything planned now).
 */
export function freeMoveSlots(ctx: PlanContext, step: number): number {
  const at = ctx.now + step * ctx.cfg.stepMs;
  const busy = ctx.state.inFlight.filter((f) => MOVE_SLOT_ACTIONS.has(f.action) && f.expectedEnd > at).length;
  return Math.max(1, ctx.cfg.safety.maxConcurrentMoves - busy);
}

export function fmtPct(x: number): string {
  return `${Math.round(x * 100)}%`;
}
