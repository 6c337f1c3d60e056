/**
 * The simulator's executor side: the commands a policy issued, as operations that wait for
 * what they depend on, run for their duration and then change the cluster (through
 * decide/state.applyCommand, the planner's own model of a command), with a CommandResult at
 * each turn. One instance per run; `simulator.ts` drives it once per step.
 *
 * Durations: data moves take ceil(bytes / throttle / step) steps; a rekey that hashes the key
 * copies the whole table, `rekeyStreams` shards at a time at the throttle each; a split, merge,
 * dereplicate or scale_in takes one step; scale_out takes ceil(provisioningMs / step) steps, the
 * node billed from the command and serving from then on. Other recommendations finish at once
 * (the simulator approves them as they are issued).
 */
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import {
  type ClusterState,
  DATA_MOVE_ACTIONS,
  type InFlight,
  type RecentAction,
  applyCommand,
  buildState,
} from '../../processors/decide/index.js';
import { releaseWithinMoveLimits } from '../../processors/decide/dependencies.js';
import { type MoveLimits, recentFromCommand } from '../../processors/decide/safety.js';
import { StateError } from '../../lib/errors.js';
import type { Workload } from './workload.js';

/**
 * What a run's operations need of its configuration; the move limits (the decide stage's) are
 * those under which moves released by their dependencies start.
 */
export interface OperationCosts extends MoveLimits {
  throttleBytesPerSec: number;
  provisioningMs: number;
  capacity: number;
  /** How long issued commands stay in `recent` (cooldown memory). */
  recentMs: number;
  /** Shards a rekey copies at once, each at the throttle. */
  rekeyStreams: number;
}

interface Op {
  cmd: AnyCommand;
  start: number;
  finish: number;
  bytes: number;
  deps: string[];
}

/** Actions that change no placement: they finish the step they start. */
const RECOMMENDATIONS = new Set(['rekey', 'composite_index', 'derived_attribute', 'precompute']);

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

export class SimOperations {
  private readonly running = new Map<string, Op>();
  private readonly pending: Op[] = [];
  private readonly done = new Map<string, 'SUCCEEDED' | 'FAILED'>();
  private recent: RecentAction[] = [];
  /** Results since the policy last read them. */
  results: CommandResult[] = [];
  accepted = 0;
  rejected = 0;
  failed = 0;

  constructor(
    public state: ClusterState,
    private readonly w: Workload,
    private readonly costs: OperationCosts,
    /** Called with the bytes of each data move at the step it starts. */
    private readonly onBytes: (t: number, bytes: number) => void,
  ) {}

  private tsOf(t: number): number {
    return this.w.startTs + t * this.w.stepMs;
  }

  /** The commands running now. */
  runningCommands(): AnyCommand[] {
    return [...this.running.values()].map((op) => op.cmd);
  }

  /** Finishes what is due at step t, then starts what waited on it. */
  advance(t: number): void {
    for (const op of [...this.running.values()].sort((a, b) => a.finish - b.finish || (a.cmd.commandId < b.cmd.commandId ? -1 : 1))) {
      if (op.finish <= t) this.finish(op, t);
    }
    for (let again = true; again; ) {
      again = false;
      const ready: Op[] = [];
      for (const op of [...this.pending]) {
        const st = op.deps.map((d) => this.done.get(d));
        if (st.some((s) => s === 'FAILED')) {
          this.pending.splice(this.pending.indexOf(op), 1);
          this.fail(op, t, 'a command it depends on failed');
          again = true;
          continue;
        }
        if (st.every((s) => s === 'SUCCEEDED')) {
          const tn = op.cmd.kind === 'shard' && op.cmd.targetNode ? this.state.nodeById.get(op.cmd.targetNode) : undefined;
          if (tn?.status !== 'provisioning') ready.push(op);
        }
      }
      // released as the decide stage releases held commands: data moves within the move limits
      const moving = [...this.running.values()].filter((o) => DATA_MOVE_ACTIONS.has(o.cmd.action)).length;
      const { release, expired } = releaseWithinMoveLimits(
        ready.map((o) => o.cmd),
        moving,
        this.costs,
        this.tsOf(t),
      );
      const opOf = new Map(ready.map((o) => [o.cmd.commandId, o]));
      for (const c of expired) {
        const op = opOf.get(c.commandId)!;
        this.pending.splice(this.pending.indexOf(op), 1);
        this.fail(op, t, 'its deadline passed while it waited for a move slot');
        again = true;
      }
      for (const c of release) {
        const op = opOf.get(c.commandId)!;
        this.pending.splice(this.pending.indexOf(op), 1);
        if (this.start(op, t)) again = true;
      }
    }
    this.refreshState(t);
  }

  /** Accepts or rejects a policy's commands at step t, as an executor would. */
  submit(cmds: readonly AnyCommand[], t: number): void {
    const now = this.tsOf(t);
    for (const c of cmds) {
      const known =
        this.running.has(c.commandId) || this.pending.some((p) => p.cmd.commandId === c.commandId) || this.done.has(c.commandId);
      if (known) {
        this.rejected++;
        this.results.push(result(c, now, 'REJECTED', 'duplicate command id'));
        continue;
      }
      const deps = (c.params.dependsOn ?? '').split(',').filter(Boolean);
      if (deps.length === 0 && c.kind !== 'resource' && this.busy(c.partition)) {
        this.rejected++;
        // commands that depend on it fail, as after a failure (they would otherwise wait forever)
        this.done.set(c.commandId, 'FAILED');
        this.results.push(result(c, now, 'REJECTED', `partition ${c.partition} has a change in progress`));
        continue;
      }
      this.accepted++;
      this.recent.push(recentFromCommand(c));
      this.results.push(result(c, now, 'ACCEPTED', null));
      const op: Op = { cmd: c, start: t, finish: t, bytes: 0, deps };
      if (deps.length) this.pending.push(op);
      else this.start(op, t);
    }
    this.refreshState(t);
  }

  /** The state with the operations in flight and the recent commands (cooldowns) folded in. */
  private refreshState(t: number): void {
    const now = this.tsOf(t);
    const w = this.w;
    const inFlight: InFlight[] = [...this.running.values(), ...this.pending].map((o) => ({
      commandId: o.cmd.commandId,
      action: o.cmd.action,
      table: o.cmd.kind !== 'resource' ? o.cmd.table : null,
      partition: o.cmd.kind !== 'resource' ? o.cmd.partition : null,
      sourceNode: o.cmd.kind === 'shard' ? o.cmd.sourceNode : null,
      targetNode: o.cmd.kind === 'shard' ? o.cmd.targetNode : null,
      node: o.cmd.kind === 'resource' ? (o.cmd.node ?? o.cmd.params.nodeId ?? null) : null,
      bytes: o.bytes,
      startedAt: w.startTs + o.start * w.stepMs,
      expectedEnd: this.running.has(o.cmd.commandId) ? w.startTs + o.finish * w.stepMs : now + o.cmd.estimatedDurationMs + w.stepMs,
      waiting: !this.running.has(o.cmd.commandId),
    }));
    this.recent = this.recent.filter((r) => now - r.ts < this.costs.recentMs);
    const s = this.state;
    this.state = buildState({
      ...s,
      tables: [...s.tables],
      partitions: [...s.partitions],
      nodes: [...s.nodes],
      inFlight,
      recent: [...this.recent],
    });
  }

  /** Whether partition `pid` has a change in progress: its own, or a rekey of its table (which claims every shard). */
  private busy(pid: string | null): boolean {
    if (pid === null) return false;
    const table = this.state.partitionById.get(pid)?.table;
    return [...this.running.values(), ...this.pending].some(
      (o) => o.cmd.kind !== 'resource' && (o.cmd.partition === pid || (o.cmd.action === 'rekey' && o.cmd.table === table)),
    );
  }

  private start(op: Op, t: number): boolean {
    const c = op.cmd;
    const state = this.state;
    // validate against the current view, as an executor would
    if (c.kind !== 'resource' && c.partition !== null && !state.partitionById.has(c.partition) && !RECOMMENDATIONS.has(c.action)) {
      this.fail(op, t, `unknown partition ${c.partition}`);
      return false;
    }
    if (c.kind === 'shard' && c.targetNode && !state.nodeById.has(c.targetNode)) {
      this.fail(op, t, `unknown node ${c.targetNode}`);
      return false;
    }
    if (c.kind === 'shard' && c.targetNode && state.nodeById.get(c.targetNode)!.status === 'provisioning') {
      // as the executors refuse it: a copy onto a new node must wait on the command adding it
      this.fail(op, t, `node ${c.targetNode} is provisioning`);
      return false;
    }
    let steps = 1,
      bytes = 0;
    const stepMs = this.w.stepMs;
    if (c.kind === 'shard' && DATA_MOVE_ACTIONS.has(c.action)) {
      bytes = state.partitionById.get(c.partition!)!.sizeBytes;
      steps = Math.max(1, Math.ceil(bytes / this.costs.throttleBytesPerSec / (stepMs / 1000)));
    } else if (c.kind === 'resource' && c.action === 'scale_out') {
      steps = Math.max(1, Math.ceil(this.costs.provisioningMs / stepMs));
      const id = c.params.nodeId ?? c.node;
      if (!id || state.nodeById.has(id)) {
        this.fail(op, t, `scale_out: bad or existing node id ${id}`);
        return false;
      }
      this.state = buildState({
        ...state,
        nodes: [
          ...state.nodes,
          {
            id,
            store: c.store,
            storeKind: c.storeKind,
            capacity: Number(c.params.capacity ?? this.costs.capacity),
            status: 'provisioning',
            readyAt: this.tsOf(t + steps),
          },
        ],
      });
    } else if (c.kind === 'partition' && c.action === 'rekey' && c.params.keyHash === 'true') {
      bytes = state.partitions.filter((p) => p.table === c.table).reduce((a, p) => a + p.sizeBytes, 0);
      steps = Math.max(1, Math.ceil(bytes / (this.costs.throttleBytesPerSec * this.costs.rekeyStreams) / (stepMs / 1000)));
    } else if (RECOMMENDATIONS.has(c.action)) {
      steps = 0;
    }
    op.start = t;
    op.finish = t + steps;
    op.bytes = bytes;
    this.onBytes(t, bytes);
    this.running.set(c.commandId, op);
    this.results.push(result(c, this.tsOf(t), 'RUNNING', null));
    if (steps === 0) this.finish(op, t);
    return true;
  }

  private fail(op: Op, t: number, reason: string): void {
    this.done.set(op.cmd.commandId, 'FAILED');
    this.failed++;
    this.results.push(result(op.cmd, this.tsOf(t), 'FAILED', reason));
  }

  private finish(op: Op, t: number): void {
    this.running.delete(op.cmd.commandId);
    const c = op.cmd;
    try {
      if (c.kind === 'resource' && c.action === 'scale_out') {
        const id = c.params.nodeId ?? c.node;
        this.state = buildState({
          ...this.state,
          nodes: this.state.nodes.map((n) => (n.id === id ? { ...n, status: 'active' as const, readyAt: null } : n)),
        });
      } else {
        this.state = applyCommand(this.state, c);
      }
      this.done.set(c.commandId, 'SUCCEEDED');
      this.results.push(result(c, this.tsOf(t), 'SUCCEEDED', null, op.bytes, (op.finish - op.start) * this.w.stepMs));
    } catch (e) {
      if (!(e instanceof StateError)) throw e;
      this.fail(op, t, e.message);
    }
  }
}
