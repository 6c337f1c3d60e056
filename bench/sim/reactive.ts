/**
 * The reactive policy, configured as users run the usual systems (defaults cited in
 * docs/decisions/0071-reactive-baseline-as-users-run-it.md):
 * - load-based splitting (CockroachDB `kv.range_split.load_qps_threshold`, TiDB
 *   `split.qps-threshold`): a range whose load in the last measurement window (the previous step)
 *   exceeds splitFraction × node capacity splits at its load-weighted median key;
 * - load-based rebalancing (CockroachDB's store rebalancer, TiDB PD's hot-region scheduler):
 *   every node more than `rebalanceThreshold` above the mean sheds ranges to the coldest nodes,
 *   several moves in parallel and round-robin over the hot nodes, within the same concurrent-move
 *   budget the predictive policy's safety limits allow (decide's `maxConcurrentMoves`);
 * - proportional autoscaling (Kubernetes HPA): desired = ceil(nodes × utilisation / target),
 *   nothing within a ±tolerance band, all missing nodes added at once; scale-down only to the
 *   highest recommendation of the stabilisation window, one node at a time, drained within the
 *   move budget before it is removed.
 */
import { handMadeFields } from '../../schemas/handMadeCommand.js';
import type { AnyCommand } from '../../schemas/types.js';
import { commandId, decideConfig, rangePartitionId } from '../../processors/decide/index.js';
import type { Observation, Policy } from './simulator.js';

function base(now: number, store: string, explanation: string, estimatedDurationMs: number) {
  return {
    ...handMadeFields(now, estimatedDurationMs, 'reactive', explanation),
    estimatedDurationMs,
    store,
    storeKind: 'postgres' as const,
  };
}

export interface ReactiveOptions {
  /** A range splits above this share of a node's capacity per step. */
  splitFraction?: number;
  /** A node more than this fraction above the mean load is overfull. */
  rebalanceThreshold?: number;
  /** HPA target utilisation. */
  targetUtil?: number;
  /** HPA tolerance: no scaling while |utilisation / target − 1| ≤ this. */
  tolerance?: number;
  /** HPA scale-down stabilisation window. */
  stabilizationMs?: number;
  /** Data moves running at once; default: the decide engine's safety limit. */
  maxConcurrentMoves?: number;
  minNodes?: number;
  maxNodes?: number;
}

export const REACTIVE_DEFAULTS = {
  splitFraction: 0.25,
  rebalanceThreshold: 0.1,
  targetUtil: 0.7,
  tolerance: 0.1,
  stabilizationMs: 300_000,
  minNodes: 2,
  maxNodes: 64,
};

/** HPA's proportional rule: the node count that brings utilisation to the target. */
export function hpaDesired(current: number, util: number, target: number, tolerance: number): number {
  if (current > 0 && Math.abs(util / target - 1) <= tolerance) return current;
  return Math.max(1, Math.ceil((current * util) / target - 1e-9));
}

export function reactivePolicy(o: ReactiveOptions = {}): Omit<Policy, 'act'> & { act(obs: Observation): AnyCommand[] } {
  const c = { ...REACTIVE_DEFAULTS, ...o };
  const maxMoves = o.maxConcurrentMoves ?? decideConfig().safety.maxConcurrentMoves;
  const recs: { step: number; desired: number }[] = [];
  let draining: string | null = null;
  return {
    name: 'reactive',
    act(obs: Observation): AnyCommand[] {
      const { state, now, cfg, step } = obs;
      const w = obs.past;
      if (step === 0) return [];
      const out: AnyCommand[] = [];
      const busy = new Set(state.inFlight.map((f) => f.partition).filter(Boolean));
      let budget = maxMoves - state.inFlight.filter((f) => ['move', 'colocate', 'replicate'].includes(f.action)).length;
      const scaling = state.inFlight.some((f) => f.action === 'scale_in');
      const windowMs = w.stepMs;
      const partLoad = (id: string) => (obs.lastPartitionLoad.get(id)?.reads ?? 0) + (obs.lastPartitionLoad.get(id)?.writes ?? 0);
      const move = (p: (typeof state.partitions)[number], from: string, to: string, why: string) => {
        out.push({
          kind: 'shard',
          ...base(now, p.store, why, Math.ceil((p.sizeBytes / cfg.throttleBytesPerSec) * 1000)),
          commandId: commandId('move', `${p.id}:${from}->${to}`, now, windowMs),
          table: p.table,
          partition: p.id,
          sourceNode: from,
          targetNode: to,
          action: 'move',
          params: { bytes: String(p.sizeBytes) },
        });
        busy.add(p.id);
        budget--;
      };
      // 1. load-based splitting
      const tIdx = new Map(w.tables.map((t, i) => [t.name, i]));
      for (const p of state.partitions) {
        const l = partLoad(p.id);
        if (busy.has(p.id) || l <= c.splitFraction * cfg.capacity) continue;
        const ti = tIdx.get(p.table)!;
        const lo = p.lo ?? 0,
          hi = p.hi ?? w.tables[ti]!.units;
        if (hi - lo < 2) continue;
        const loads: number[] = [];
        for (let u = lo; u < hi; u++) loads.push(w.load(ti, step - 1, u));
        const total = loads.reduce((a, b) => a + b, 0);
        let acc = 0,
          at = lo + 1,
          best = Infinity;
        for (let i = 0; i < loads.length - 1; i++) {
          acc += loads[i]!;
          const gap = Math.abs(acc / total - 0.5);
          if (gap < best) {
            best = gap;
            at = lo + i + 1;
          }
        }
        out.push({
          kind: 'partition',
          ...base(now, p.store, `load ${l.toFixed(0)}/window above split threshold`, w.stepMs),
          commandId: commandId('split', `${p.id}@${at}`, now, windowMs),
          table: p.table,
          partition: p.id,
          action: 'split',
          params: { splitAt: String(at), leftId: rangePartitionId(p.table, p.lo, at), rightId: rangePartitionId(p.table, at, p.hi) },
        });
        busy.add(p.id);
      }
      const active = state.nodes.filter((n) => n.status !== 'provisioning');
      if (draining && !active.some((n) => n.id === draining)) draining = null;
      const loadOf = (id: string) => obs.lastNodeLoad.get(id) ?? 0;
      const totalLoad = active.reduce((a, n) => a + loadOf(n.id), 0);
      // 2. proportional autoscaling; a node still provisioning counts at 0% (as HPA counts a pod not yet ready)
      const held0 = state.nodes.length;
      const util = held0 > 0 ? totalLoad / state.nodes.reduce((a, n) => a + n.capacity, 0) : 0;
      const desired = Math.min(c.maxNodes, Math.max(c.minNodes, hpaDesired(held0, util, c.targetUtil, c.tolerance)));
      recs.push({ step, desired });
      const window = Math.max(1, Math.ceil(c.stabilizationMs / w.stepMs));
      while (recs.length && recs[0]!.step <= step - window) recs.shift();
      const held = state.nodes.length - (draining ? 1 : 0);
      if (desired > held) {
        draining = null; // load is back: keep the node being drained
        const add = desired - state.nodes.length;
        for (let i = 0; i < add; i++) {
          const id = `r-${step}-${i}`;
          out.push({
            kind: 'resource',
            ...base(
              now,
              cfg.store,
              `utilisation ${(util * 100).toFixed(0)}% → ${desired} nodes at ${c.targetUtil * 100}%`,
              cfg.provisioningMs,
            ),
            commandId: commandId('scale_out', id, now, windowMs),
            node: null,
            action: 'scale_out',
            params: { nodeId: id, capacity: String(cfg.capacity) },
          });
        }
      } else if (
        // scale down only on a full window of recommendations, to the highest of them
        step >= window &&
        !draining &&
        !scaling &&
        Math.max(...recs.map((r) => r.desired)) < held &&
        active.length > c.minNodes
      ) {
        draining = [...active].sort((a, b) => loadOf(a.id) - loadOf(b.id) || (a.id < b.id ? -1 : 1))[0]!.id;
      }
      // 3. rebalance: every overfull node sheds ranges toward the coldest, round-robin, within the budget
      const others = active.filter((n) => n.id !== draining);
      const planned = new Map(active.map((n) => [n.id, loadOf(n.id)]));
      const mean = others.reduce((a, n) => a + loadOf(n.id), 0) / Math.max(1, others.length);
      const limit = mean * (1 + c.rebalanceThreshold);
      const coldest = () => [...planned].filter(([id]) => id !== draining).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0];
      if (draining && !scaling) {
        const left = state.partitions.filter((p) => p.node === draining || p.replicas?.includes(draining!));
        for (const p of left) {
          if (budget <= 0) break;
          if (busy.has(p.id) || p.node !== draining) continue;
          const to = coldest();
          if (!to) break;
          planned.set(to[0], to[1] + partLoad(p.id));
          move(p, draining, to[0], `drain ${draining} for scale-in`);
        }
        if (left.length === 0 && !state.inFlight.some((f) => f.sourceNode === draining || f.targetNode === draining)) {
          out.push({
            kind: 'resource',
            ...base(now, cfg.store, `utilisation ${(util * 100).toFixed(0)}%: fewer nodes for ${c.stabilizationMs / 1000}s`, w.stepMs),
            commandId: commandId('scale_in', draining, now, windowMs),
            node: draining,
            action: 'scale_in',
          });
        }
      }
      const hot = others.filter((n) => loadOf(n.id) > limit).sort((a, b) => loadOf(b.id) - loadOf(a.id));
      for (let moved = true; moved && budget > 0; ) {
        moved = false;
        for (const h of hot) {
          if (budget <= 0) break;
          const excess = planned.get(h.id)! - mean;
          const to = coldest();
          if (excess <= 0 || !to || to[0] === h.id) continue;
          const room = limit - to[1];
          const pick = state.partitions
            .filter((p) => p.node === h.id && !busy.has(p.id))
            .map((p) => ({ p, l: partLoad(p.id) }))
            .filter((x) => x.l > 0 && x.l <= room)
            .sort((a, b) => Math.abs(a.l - excess) - Math.abs(b.l - excess) || (a.p.id < b.p.id ? -1 : 1))[0];
          if (!pick) continue;
          planned.set(h.id, planned.get(h.id)! - pick.l);
          planned.set(to[0], to[1] + pick.l);
          move(
            pick.p,
            h.id,
            to[0],
            `rebalance: ${h.id} at ${((loadOf(h.id) / h.capacity) * 100).toFixed(0)}% vs mean ${((mean / h.capacity) * 100).toFixed(0)}%`,
          );
          moved = true;
        }
      }
      return out;
    },
  };
}
