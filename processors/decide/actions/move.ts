/**
 * Move a partition's primary copy off a node whose planned load goes above target, to the
 * node with the most room over the horizon. Only problems are fixed: no rebalancing for its
 * own sake, so data moves only when the forecast says a node will run hot.
 */
import { type Candidate, type PlanContext, coolNodes, fmtPct, hotNodes, moveOp, partitionsOn, peakCopy } from './common.js';

export function planMoves(ctx: PlanContext, opts: { partitionsPerNode?: number; targets?: number } = {}): Candidate[] {
  const { s } = ctx;
  const out: Candidate[] = [];
  for (const hot of hotNodes(s)) {
    const parts = partitionsOn(s, hot.node.id)
      .filter((p) => !p.locked)
      .map((p) => ({ p, peak: peakCopy(s, p, hot.firstStep) }))
      .filter((x) => x.peak > 0)
      .sort((a, b) => b.peak - a.peak || (a.p.id < b.p.id ? -1 : 1))
      .slice(0, opts.partitionsPerNode ?? 6);
    const targets = coolNodes(s, new Set([hot.node.id]), hot.firstStep).slice(0, opts.targets ?? 3);
    for (const { p, peak } of parts) {
      for (const t of targets) {
        const start = Math.max(0, t.activeFrom, p.availableFrom);
        const op = moveOp(ctx, p, t.id, start);
        out.push({
          action: 'move',
          ops: [op],
          explanation: `move ${p.id} (peak ${peak.toFixed(0)}/window) ${p.node}→${t.id}: ${p.node} forecast at ${fmtPct(hot.peakUtil)} of capacity from step ${hot.firstStep + 1}`,
          single: (sc) => sc.moveEffect(sc.partitions.get(p.id)!, t.id, op.startStep, op.finishStep),
          run(sc) {
            sc.commitEffect(this.single!(sc));
          },
        });
      }
    }
  }
  return out;
}
