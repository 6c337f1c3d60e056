/**
 * Co-locate co-accessed partitions: for an edge whose weight is a noticeable share of a node
 * and whose ends sit on different nodes, move the smaller end next to the other. The cost
 * model charges cross-node co-access as extra load on both nodes, so the move is worth it when
 * that saving beats the bytes and does not push the receiving node above target.
 */
import { type Candidate, type PlacementAction, type PlanContext, moveOp } from './common.js';
import { moveAction, moveEffect } from './move.js';

export function planColocations(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const out: Candidate[] = [];
  const seen = new Set<string>();
  for (const [a, list] of s.edges) {
    for (const { other: b, weight } of list) {
      const key = a < b ? `${a}|${b}` : `${b}|${a}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const pa = s.partitions.get(a),
        pb = s.partitions.get(b);
      if (!pa || !pb || pa.node === pb.node) continue;
      const cap = s.nodes.get(pa.node)!.capacity;
      if (weight < cfg.colocate.minWeightFraction * cap) continue;
      const [mover, anchor] = pa.sizeBytes <= pb.sizeBytes ? [pa, pb] : [pb, pa];
      if (mover.locked) continue;
      const target = anchor.node;
      const op = moveOp(ctx, mover, target, Math.max(0, mover.availableFrom), 'colocate');
      // the partition it joins: the executor refuses the move if that one is no longer on `target`
      op.params.with = anchor.id;
      out.push({
        action: 'colocate',
        ops: [op],
        explanation: `co-locate ${mover.id} with ${anchor.id} on ${target}: ${weight.toFixed(0)} co-accessed queries/window cross nodes today`,
        // the target as planned: `anchor` is a live scenario object a later candidate may move
        single: (sc) => moveEffect(sc, sc.partitions.get(mover.id)!, target, op.startStep, op.finishStep),
        run(sc) {
          sc.commitEffect(this.single!(sc));
        },
      });
    }
  }
  return out;
}

/** A move whose target is chosen by co-access: everything but its planner is a move's. */
export const colocateAction: PlacementAction<'shard'> = { ...moveAction, plan: planColocations };
