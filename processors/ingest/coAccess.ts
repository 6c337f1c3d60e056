/**
 * Co-access: which table × key-bucket targets are touched together, by one query or by the
 * queries of one transaction within a window. Each target's series counts the targets it was
 * touched with in its fixed-size co-access sketch.
 */
import type { SeriesState } from './series.js';

/** The most targets remembered per transaction in a window. */
const TARGETS_PER_TX = 32;

/** txId → targets ("table|bucket") its queries touched in a window, with their series. */
export type TransactionTargets = Map<string, Map<string, SeriesState>>;

/**
 * Records what one query's targets were touched with: each other, and, in a transaction, what
 * the transaction touched earlier in the window. At most `maxTx` transactions are remembered
 * (the oldest is forgotten first).
 */
export function recordCoAccess(
  targets: ReadonlyMap<string, SeriesState>,
  txId: string | null,
  txs: TransactionTargets,
  maxTx: number,
): void {
  const names = [...targets.keys()];
  if (!txId) {
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        targets.get(names[i]!)!.co.add(names[j]!);
        targets.get(names[j]!)!.co.add(names[i]!);
      }
    }
    return;
  }
  let tx = txs.get(txId);
  if (!tx) {
    if (txs.size >= maxTx) {
      const first = txs.keys().next();
      if (!first.done) txs.delete(first.value);
    }
    tx = new Map();
    txs.set(txId, tx);
  }
  const fresh = names.filter((t) => !tx.has(t));
  for (let i = 0; i < fresh.length; i++) {
    const a = fresh[i]!;
    const sa = targets.get(a)!;
    for (const [b, sb] of tx) {
      sa.co.add(b);
      sb.co.add(a);
    }
    for (let j = i + 1; j < fresh.length; j++) {
      const b = fresh[j]!;
      sa.co.add(b);
      targets.get(b)!.co.add(a);
    }
  }
  for (const a of fresh) if (tx.size < TARGETS_PER_TX) tx.set(a, targets.get(a)!);
}
