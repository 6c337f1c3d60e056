/**
 * The reactive policy, modelled on CockroachDB/TiDB load-based splitting and rebalancing: split
 * a range whose load over the last measurement window (the previous step, standing in for their
 * 10-second QPS window) exceeds splitFraction × node capacity, at its load-weighted median key;
 * move one range per step from the hottest node toward the mean when it is more than 10% above
 * it; scale out when cluster utilisation is above 80%, in (draining the coldest node) after 15
 * steps below 50%.
 */
import type { AnyCommand } from '../../schemas/types.js';
import { commandId, rangePartitionId } from '../../processors/decide/index.js';
import type { Observation, Policy } from './simulator.js';

function base(now: number, store: string, explanation: string, policy: string, estimatedDurationMs: number) {
  return {
    issuedAt: now,
    deadline: now + estimatedDurationMs,
    store,
    storeKind: 'postgres' as const,
    params: {} as Record<string, string>,
    evidence: {
      seriesId: null,
      currentLoad: 0,
      forecastPeak: 0,
      forecastLower: 0,
      forecastUpper: 0,
      peakAt: null,
      capacity: null,
      model: null,
    },
    expectedBenefit: 0,
    expectedCost: 0,
    estimatedDurationMs,
    requiresApproval: false,
    policy,
    explanation,
  };
}

export interface ReactiveOptions {
  splitFraction?: number;
  rebalanceThreshold?: number;
  scaleOutUtil?: number;
  scaleInUtil?: number;
  scaleInSteps?: number;
  maxConcurrentMoves?: number;
  minNodes?: number;
}

export function reactivePolicy(o: ReactiveOptions = {}): Policy {
  const splitFraction = o.splitFraction ?? 0.25,
    thr = o.rebalanceThreshold ?? 0.1;
  const outUtil = o.scaleOutUtil ?? 0.8,
    inUtil = o.scaleInUtil ?? 0.5,
    inSteps = o.scaleInSteps ?? 15;
  const maxMoves = o.maxConcurrentMoves ?? 4,
    minNodes = o.minNodes ?? 2;
  let lowFor = 0;
  return {
    name: 'reactive',
    act(obs: Observation): AnyCommand[] {
      const { state, now, cfg, workload: w, step } = obs;
      if (step === 0) return [];
      const out: AnyCommand[] = [];
      const busy = new Set(state.inFlight.map((f) => f.partition).filter(Boolean));
      const movesRunning = state.inFlight.filter((f) => ['move', 'colocate', 'replicate'].includes(f.action)).length;
      const scaling = state.inFlight.some((f) => f.action === 'scale_out' || f.action === 'scale_in');
      const windowMs = w.stepMs;
      // 1. load-based splitting
      const tIdx = new Map(w.tables.map((t, i) => [t.name, i]));
      for (const p of state.partitions) {
        const l = obs.lastPartitionLoad.get(p.id);
        if (!l || busy.has(p.id) || l.reads + l.writes <= splitFraction * cfg.capacity) continue;
        const ti = tIdx.get(p.table)!,
          tb = w.tables[ti]!;
        const lo = p.lo ?? 0,
          hi = p.hi ?? tb.units;
        if (hi - lo < 2) continue;
        const loads: number[] = [];
        for (let u = lo; u < hi; u++) loads.push(w.reads[ti]![(step - 1) * tb.units + u]! + w.writes[ti]![(step - 1) * tb.units + u]!);
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
          ...base(now, p.store, `load ${(l.reads + l.writes).toFixed(0)}/window above split threshold`, 'reactive', w.stepMs),
          commandId: commandId('split', `${p.id}@${at}`, now, windowMs),
          table: p.table,
          partition: p.id,
          action: 'split',
          params: { splitAt: String(at), leftId: rangePartitionId(p.table, p.lo, at), rightId: rangePartitionId(p.table, at, p.hi) },
        });
        busy.add(p.id);
      }
      // 2. rebalance toward the mean
      const active = state.nodes.filter((n) => n.status !== 'provisioning');
      const loadOf = (id: string) => obs.lastNodeLoad.get(id) ?? 0;
      const totalLoad = active.reduce((a, n) => a + loadOf(n.id), 0);
      const totalCap = active.reduce((a, n) => a + n.capacity, 0);
      const meanLoad = totalLoad / Math.max(1, active.length);
      if (movesRunning < maxMoves && active.length > 1) {
        const sorted = [...active].sort((a, b) => loadOf(b.id) - loadOf(a.id));
        const hot = sorted[0]!,
          cold = sorted[sorted.length - 1]!;
        if (loadOf(hot.id) > meanLoad * (1 + thr) && !state.inFlight.some((f) => f.targetNode === hot.id || f.sourceNode === hot.id)) {
          const excess = loadOf(hot.id) - meanLoad;
          const room = meanLoad * (1 + thr) - loadOf(cold.id);
          const pick = state.partitions
            .filter((p) => p.node === hot.id && !busy.has(p.id))
            .map((p) => ({ p, l: (obs.lastPartitionLoad.get(p.id)?.reads ?? 0) + (obs.lastPartitionLoad.get(p.id)?.writes ?? 0) }))
            .filter((x) => x.l > 0 && x.l <= Math.max(room, 0))
            .sort((a, b) => Math.abs(a.l - excess) - Math.abs(b.l - excess) || (a.p.id < b.p.id ? -1 : 1))[0];
          if (pick) {
            out.push({
              kind: 'shard',
              ...base(
                now,
                pick.p.store,
                `rebalance: ${hot.id} at ${((loadOf(hot.id) / hot.capacity) * 100).toFixed(0)}% vs mean ${((meanLoad / hot.capacity) * 100).toFixed(0)}%`,
                'reactive',
                Math.ceil((pick.p.sizeBytes / cfg.throttleBytesPerSec) * 1000),
              ),
              commandId: commandId('move', `${pick.p.id}:${hot.id}->${cold.id}`, now, windowMs),
              table: pick.p.table,
              partition: pick.p.id,
              sourceNode: hot.id,
              targetNode: cold.id,
              action: 'move',
              params: { bytes: String(pick.p.sizeBytes) },
            });
            busy.add(pick.p.id);
          }
        }
      }
      // 3. scale on current load
      const util = totalCap > 0 ? totalLoad / totalCap : 0;
      lowFor = util < inUtil ? lowFor + 1 : 0;
      if (!scaling && util > outUtil) {
        const id = `r-${step}`;
        out.push({
          kind: 'resource',
          ...base(now, cfg.store, `cluster at ${(util * 100).toFixed(0)}% > ${outUtil * 100}%`, 'reactive', cfg.provisioningMs),
          commandId: commandId('scale_out', id, now, windowMs),
          node: null,
          action: 'scale_out',
          params: { nodeId: id, capacity: String(cfg.capacity) },
        });
        lowFor = 0;
      } else if (!scaling && movesRunning === 0 && lowFor >= inSteps && active.length > minNodes) {
        const victim = [...active].sort((a, b) => loadOf(a.id) - loadOf(b.id) || (a.id < b.id ? -1 : 1))[0]!;
        const others = active.filter((n) => n.id !== victim.id);
        const planned = new Map(others.map((n) => [n.id, loadOf(n.id)]));
        const ids: string[] = [];
        for (const p of state.partitions.filter((x) => x.node === victim.id)) {
          if (busy.has(p.id)) return out;
          const l = (obs.lastPartitionLoad.get(p.id)?.reads ?? 0) + (obs.lastPartitionLoad.get(p.id)?.writes ?? 0);
          const to = [...planned].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
          planned.set(to, planned.get(to)! + l);
          const id = commandId('move', `${p.id}:${victim.id}->${to}`, now, windowMs);
          ids.push(id);
          out.push({
            kind: 'shard',
            ...base(now, p.store, `drain ${victim.id} for scale-in`, 'reactive', Math.ceil((p.sizeBytes / cfg.throttleBytesPerSec) * 1000)),
            commandId: id,
            table: p.table,
            partition: p.id,
            sourceNode: victim.id,
            targetNode: to,
            action: 'move',
            params: { bytes: String(p.sizeBytes) },
          });
        }
        out.push({
          kind: 'resource',
          ...base(now, cfg.store, `cluster at ${(util * 100).toFixed(0)}% < ${inUtil * 100}% for ${lowFor} steps`, 'reactive', w.stepMs),
          commandId: commandId('scale_in', victim.id, now, windowMs),
          node: victim.id,
          action: 'scale_in',
          params: ids.length ? { dependsOn: ids.join(',') } : {},
        });
        lowFor = 0;
      }
      return out;
    },
  };
}
