/**
 * A precomputation on a ClickHouse table: a SummingMergeTree target fed by a materialized view
 * (`CREATE MATERIALIZED VIEW … TO target`), plus a backfill of the rows that were there before.
 *
 * POPULATE is not used: rows inserted while it runs are in neither the view nor the backfill.
 * Instead, with merges stopped on the source (part names stay fixed): list the parts, create the
 * view, then check that no INSERT into the table is running and that the parts are unchanged.
 * If so, every row is either in a listed part (backfilled from exactly those parts) or in an
 * INSERT that started after the view existed (forwarded by it): none twice, none lost. If not,
 * the view and target are dropped and the attempt repeats after a short random wait; writers are
 * never refused. After `attempts` busy attempts the command is rolled back with that reason.
 *
 * Readers aggregate the target again (`SELECT sc_grp, sum(sc_n)… GROUP BY sc_grp`), since a
 * SummingMergeTree folds rows only when it merges.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { quoteQualified, quoteToken } from '../../stores/identifiers.js';
import { StateError, UnavailableError } from '../../lib/errors.js';
import { stopRequestedError, type ExecutionContext, type Outcome } from '../types.js';
import { renderPrecompute, type PrecomputeSpec } from './checks.js';
import { batchesOf, THROTTLE_SLICE } from './batches.js';
import type { ChStore, Part } from './store.js';

export interface PrecomputePlan {
  commandId: string;
  db: string;
  table: string;
  target: string;
  view: string;
  spec: PrecomputeSpec;
  maxPartitions: number;
  batchBytes: number;
  attempts: number;
}

export function precomputeState(p: PrecomputePlan, phase: string): Record<string, string> {
  return { op: 'precompute', phase, commandId: p.commandId, db: p.db, table: p.table, target: p.target, view: p.view };
}

/** Drops what a precompute run created and turns merges back on. Idempotent. */
export async function undoPrecompute(store: ChStore, n: { db: string; table: string; target: string; view: string }): Promise<void> {
  const q = (x: string) => quoteQualified(n.db, x);
  await store.exec(`DROP TABLE IF EXISTS ${q(n.view)}`);
  await store.exec(`DROP TABLE IF EXISTS ${q(n.target)}`);
  if ((await store.engineOf(n.db, n.table)) !== null) await store.exec(`SYSTEM START MERGES ${q(n.table)}`);
}

const sameNames = (a: Part[], b: string[]) => a.length === b.length && a.every((x, i) => x.name === b[i]);

export async function runPrecompute(store: ChStore, p: PrecomputePlan, ctx: ExecutionContext): Promise<Outcome> {
  const q = (x: string) => quoteQualified(p.db, x);
  const select = renderPrecompute(p.spec);
  let rowsCopied = 0;
  let bytesMoved = 0;
  let attempt = 0;
  try {
    await ctx.checkpoint(precomputeState(p, 'attaching'));
    await store.exec(`SYSTEM STOP MERGES ${q(p.table)}`);
    let base: Part[] | null = null;
    while (!base && attempt < p.attempts) {
      attempt++;
      if (ctx.signal.aborted) throw stopRequestedError();
      await store.exec(
        `CREATE TABLE ${q(p.target)} ENGINE = SummingMergeTree() ORDER BY sc_grp AS SELECT ${select} FROM ${q(p.table)} WHERE 0 GROUP BY sc_grp`,
      );
      const before = await store.parts(p.db, p.table);
      await store.exec(`CREATE MATERIALIZED VIEW ${q(p.view)} TO ${q(p.target)} AS SELECT ${select} FROM ${q(p.table)} GROUP BY sc_grp`);
      // Running INSERTs first, then parts: an INSERT that began before the view and is gone by
      // then has committed its part, so the comparison with `before` sees it.
      const after = await store.insertsThenParts(p.db, p.table);
      if (after.running === 0 && sameNames(before, after.parts)) {
        base = before;
        break;
      }
      await store.exec(`DROP TABLE ${q(p.view)}`);
      // Forwarded blocks of INSERTs still in flight must not land in the next attempt's target.
      for (let i = 0; i < 50 && (await store.insertsRunning(p.table, 0)) > 0; i++) await sleep(20);
      await store.exec(`DROP TABLE ${q(p.target)}`);
      await sleep(10 + Math.floor(Math.random() * 90));
    }
    if (!base)
      throw new UnavailableError(
        `${p.table} was never without running INSERTs in ${p.attempts} attempts; the view was not attached (retry when writes are less continuous)`,
      );

    await ctx.checkpoint(precomputeState(p, 'backfill'));
    const settings = await store.copySettings(p.maxPartitions);
    const total = Math.max(
      1,
      base.reduce((s, x) => s + x.bytes, 0),
    );
    for (const batch of batchesOf(base, p.batchBytes)) {
      if (ctx.signal.aborted) throw stopRequestedError();
      const bytes = batch.reduce((s, x) => s + x.bytes, 0);
      for (let left = bytes; left > 0; left -= THROTTLE_SLICE) await ctx.throttle(Math.min(left, THROTTLE_SLICE));
      await store.exec(
        `INSERT INTO ${q(p.target)} SELECT ${select} FROM ${q(p.table)} WHERE _part IN (${batch.map((x) => quoteToken(x.name)).join(', ')}) GROUP BY sc_grp`,
        settings,
      );
      // Still there after the INSERT, so it was there during it: the backfill read it whole.
      const live = new Set((await store.parts(p.db, p.table)).map((x) => x.name));
      const gone = batch.find((x) => !live.has(x.name));
      if (gone) throw new StateError(`part ${gone.name} of ${p.table} disappeared during the backfill (mutation or dropped partition)`);
      rowsCopied += batch.reduce((s, x) => s + x.rows, 0);
      bytesMoved += bytes;
      await ctx.report({
        status: 'RUNNING',
        progress: Math.min(0.95, bytesMoved / total),
        rowsCopied,
        bytesMoved,
        details: { phase: 'backfill', partition: batch[0]!.partitionId },
      });
    }
    await store.exec(`SYSTEM START MERGES ${q(p.table)}`);

    // Under concurrent writes the two counts are read at different moments; they are compared
    // only when the table's count holds still between reads.
    let verified: boolean | null = null;
    let prev = '';
    for (let i = 0; i < 10 && verified === null; i++) {
      const [a] = await store.rows<{ c: string }>(`SELECT count() AS c FROM ${q(p.table)}`);
      const [b] = await store.rows<{ c: string }>(`SELECT sum(sc_n) AS c FROM ${q(p.target)}`);
      const [a2] = await store.rows<{ c: string }>(`SELECT count() AS c FROM ${q(p.table)}`);
      const src = String(a?.c),
        again = String(a2?.c),
        got = String(b?.c);
      if (src === again && src === got) verified = true;
      else if (src === again && src === prev)
        throw new StateError(`verification failed: ${p.table} has ${src} rows, the precomputation counts ${got}`);
      prev = src === again ? src : '';
      if (verified === null) await sleep(200);
    }
    return {
      status: 'SUCCEEDED',
      rowsCopied,
      bytesMoved,
      verified,
      details: {
        target: `${p.db}.${p.target}`,
        view: `${p.db}.${p.view}`,
        template: p.spec.template,
        attempts: String(attempt),
        ...(verified === null ? { verify: 'the table was written to throughout; counts not compared' } : {}),
      },
    };
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0]!;
    try {
      await undoPrecompute(store, p);
    } catch (e2) {
      return { status: 'FAILED', reason: `${reason}; cleanup failed: ${(e2 as Error).message}` };
    }
    return { status: 'ROLLED_BACK', reason, rowsCopied, bytesMoved, details: { attempts: String(attempt) } };
  }
}
