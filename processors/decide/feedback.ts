/**
 * What the live pipeline's decisions turned out to be, as rewards for the plan selector
 * (selector.ts). Each decision round is remembered with the arm it played and its features;
 * once its horizon has passed (every window in it closed), the outcome over that span is read
 * from what was observed afterwards: node load from the node-total aggregates (violation
 * minutes above capacity, node-minutes used against those the load needed), and the round's
 * commands from shardcast.results (bytes moved, failures). `outcomeReward` turns that into a
 * reward and the selector learns from it; until it has enough, it plays the cost model's choice.
 *
 * Pure and bounded: no clock reads (times come in), windows older than the oldest pending
 * decision are dropped, results are kept only for pending commands.
 */
import type { CommandResult, WorkloadAggregate } from '../../schemas/types.js';
import { newSelector, outcomeReward, update, type SelectorModel } from './selector.js';

export interface FeedbackOptions {
  /** Queries per window a node serves before it is over capacity. */
  capacity: number;
  /** Window length (the aggregates' step). */
  stepMs: number;
  /** How long after a decision its outcome is judged (the forecast horizon). */
  horizonMs: number;
  /** Utilisation the needed node count is computed at (the engine's targetUtil). */
  targetUtil?: number;
  /** Rewards per arm before the selector's own choice replaces the cost model's. */
  minObservations?: number;
  /** Decisions remembered at most (the oldest are judged on what is known, or dropped). */
  maxPending?: number;
}

interface Pending {
  at: number;
  arm: string;
  features: number[];
  commandIds: string[];
}

export interface Settled {
  arm: string;
  reward: number;
  at: number;
  violationMinutes: number;
  nodeMinutes: number;
  gbMoved: number;
  failed: number;
}

const FAILED = new Set(['FAILED', 'ROLLED_BACK']);

export class DecisionFeedback {
  private model: SelectorModel | null = null;
  private readonly pending: Pending[] = [];
  /** windowStart → node → queries in that window (node totals). */
  private readonly load = new Map<number, Map<string, number>>();
  private readonly outcomes = new Map<string, { status: string; bytes: number }>();

  constructor(private readonly opts: FeedbackOptions) {}

  /** The selector to play with (null until the first decision sized it). */
  get selector(): SelectorModel | null {
    return this.model;
  }

  /** Decisions waiting for their horizon. */
  get waiting(): number {
    return this.pending.length;
  }

  observeAggregate(a: WorkloadAggregate): void {
    if (a.table !== null || a.node === null) return; // node totals only: each query counted once
    if (this.pending.length === 0) return;
    if (a.windowStart < this.pending[0]!.at - this.opts.stepMs) return;
    const w = this.load.get(a.windowStart) ?? new Map<string, number>();
    w.set(a.node, Math.max(w.get(a.node) ?? 0, a.queries)); // a redelivered window is the same window
    this.load.set(a.windowStart, w);
  }

  observeResult(r: CommandResult): void {
    if (!this.pending.some((p) => p.commandIds.includes(r.commandId))) return;
    const cur = this.outcomes.get(r.commandId);
    this.outcomes.set(r.commandId, { status: r.status, bytes: Math.max(cur?.bytes ?? 0, r.bytesMoved) });
  }

  /** Remembers a decision round: the arm played, its features, the commands it issued. */
  record(at: number, arm: string, features: readonly number[], commandIds: readonly string[]): void {
    if (features.length === 0) return;
    this.model ??= newSelector(features.length, { alpha: 0.3, minObservations: this.opts.minObservations ?? 5 });
    if (this.model.d !== features.length) return; // a different feature layout: not comparable
    this.pending.push({ at, arm, features: [...features], commandIds: [...commandIds] });
    const max = this.opts.maxPending ?? 500;
    while (this.pending.length > max) this.pending.shift();
  }

  /** Judges every decision whose horizon closed by `now`; the selector learns from each. */
  settle(now: number): Settled[] {
    const out: Settled[] = [];
    const stepMin = this.opts.stepMs / 60_000;
    const target = this.opts.targetUtil ?? 0.85;
    while (this.pending.length > 0 && this.pending[0]!.at + this.opts.horizonMs + this.opts.stepMs <= now) {
      const d = this.pending.shift()!;
      let violation = 0,
        nodeMinutes = 0,
        needed = 0,
        maxNodes = 1;
      for (const [start, nodes] of this.load) {
        if (start < d.at || start >= d.at + this.opts.horizonMs) continue;
        let total = 0;
        for (const q of nodes.values()) {
          total += q;
          if (q > this.opts.capacity) violation += stepMin;
        }
        nodeMinutes += nodes.size * stepMin;
        needed += Math.max(1, Math.ceil(total / (this.opts.capacity * target))) * stepMin;
        maxNodes = Math.max(maxNodes, nodes.size);
      }
      if (nodeMinutes === 0) continue; // nothing observed over its horizon: no evidence either way
      const mine = d.commandIds.map((id) => this.outcomes.get(id));
      const gbMoved = mine.reduce((a, o) => a + (o?.bytes ?? 0), 0) / 1024 ** 3;
      const failed = mine.filter((o) => o && FAILED.has(o.status)).length;
      const reward = outcomeReward({
        violationMinutes: violation,
        nodeMinutes,
        gbMoved,
        failed,
        periodMinutes: this.opts.horizonMs / 60_000,
        nodes: maxNodes,
        neededNodeMinutes: needed,
      });
      this.model = update(this.model!, d.arm, d.features, reward);
      for (const id of d.commandIds) this.outcomes.delete(id);
      out.push({ arm: d.arm, reward, at: d.at, violationMinutes: violation, nodeMinutes, gbMoved, failed });
    }
    // Windows no pending decision can still need.
    const oldest = this.pending[0]?.at ?? now;
    for (const start of this.load.keys()) if (start < oldest - this.opts.stepMs) this.load.delete(start);
    return out;
  }
}
