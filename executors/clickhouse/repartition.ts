/**
 * Online change of a ClickHouse table's PARTITION BY through a shadow table.
 *
 *  1. prepare   CREATE TABLE shadow AS t ENGINE = <same engine, order key, settings> PARTITION BY <new>;
 *               SYSTEM STOP MERGES on t and on the shadow. With merges stopped a part of t never
 *               changes name, so "which rows are copied" is exactly "which parts are copied", and
 *               the shadow does not collapse rows (Replacing/Summing/Collapsing) before the check.
 *  2. copy      INSERT INTO shadow SELECT … FROM t WHERE _part IN (…), whole source partitions per
 *               batch (joined or split at a byte bound sized for at most ~50 batches, since each
 *               batch can add a part to every new partition), throttled by the parts' bytes.
 *               Rounds repeat over the parts that writers added meanwhile until what is left is
 *               small (pauseBytes) — writes go on during this phase.
 *  3. pause     RENAME t TO old; CREATE VIEW t AS SELECT * FROM old. Readers keep reading; a writer's
 *               INSERT now fails ("write is not supported by storage View") and is not acknowledged,
 *               so the writer retries it after the switch. INSERTs that started before the rename
 *               are waited for (system.processes; 18.16's RENAME already waits for them), then the
 *               parts they and the last round left are copied. No acknowledged row is lost.
 *  4. verify    count() and sum(cityHash64(columns)) of every copied batch of source parts,
 *               summed, must equal the shadow's: the bulk is checked before the pause, the parts
 *               copied in the pause against the shadow parts they produced; every part of the
 *               original must have been copied, and the shadow must have the requested key.
 *  5. switch    RENAME TABLE t TO gate, shadow TO t — one statement; writers succeed again.
 *  6. cleanup   drop the gate view, START MERGES, drop old after graceMs (or keep it: keepOld).
 *
 * Any failure before 5 restores the original under its name (one RENAME back), drops the
 * shadow and reports ROLLED_BACK. Recovery after a crash is driven by which of the work tables
 * exist (names derived from the command id), not by trust in the last checkpoint; that
 * rollback and the cleanup after the switch are in switch.ts, the copy batches in batches.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { quoteIdent, quoteQualified, quoteToken } from '../../stores/identifiers.js';
import { StateError, UnavailableError } from '../../lib/errors.js';
import { stopRequestedError, type ExecutionContext, type Outcome } from '../types.js';
import { normalizeKey } from './checks.js';
import type { ChStore, Part } from './store.js';
import { batchesOf, THROTTLE_SLICE } from './batches.js';
import { finishSwitch, restoreOriginal, type WorkTables } from './switch.js';

export interface RepartitionPlan extends WorkTables {
  commandId: string;
  /** PARTITION BY expression (rendered) and how system.tables will write it. */
  keySql: string;
  keyCanonical: string;
  /** `Engine(…) PARTITION BY … ORDER BY …` for the shadow. */
  engineSql: string;
  /** Stored columns, in table order: what is copied and checksummed. */
  columns: string[];
  /** The nullable ones among them. */
  nullable: string[];
  graceMs: number;
  keepOld: boolean;
  maxPartitions: number;
  batchBytes: number;
  pauseBytes: number;
  maxRounds: number;
  drainTimeoutMs: number;
}

export interface RepartitionHooks {
  /** Test hook: after each copied batch (1-based), in the online or the paused phase. */
  afterBatch?(batch: number, phase: 'online' | 'paused'): Promise<void>;
  /** Test hook: after verification, before the switch. */
  beforeSwitch?(): Promise<void>;
}

/** The checkpoint a run saves: enough for a restarted executor to find its work tables. */
export function repartitionState(p: RepartitionPlan, phase: string): Record<string, string> {
  return {
    op: 'repartition',
    phase,
    commandId: p.commandId,
    db: p.db,
    table: p.table,
    shadow: p.shadow,
    old: p.old,
    gate: p.gate,
    keyCanonical: p.keyCanonical,
    graceMs: String(p.graceMs),
    keepOld: String(p.keepOld),
  };
}

/** count() and sum(cityHash64(…)) of some rows; sums wrap at 2^64 like ClickHouse's UInt64. */
interface Checksum {
  c: bigint;
  h: bigint;
}
const WRAP = 1n << 64n;
const add = (a: Checksum, b: Checksum): Checksum => ({ c: a.c + b.c, h: (a.h + b.h) % WRAP });
const same = (a: Checksum, b: Checksum) => a.c === b.c && a.h === b.h;
const show = (x: Checksum) => `${x.c} rows, checksum ${x.h}`;

/** Batches a copy aims at, at most: with merges stopped each batch may add a part to every new partition. */
const TARGET_BATCHES = 50;
export class Repartition {
  private readonly copied = new Map<string, Part>();
  private rowsCopied = 0;
  private bytesMoved = 0;
  private batches = 0;
  private totalBytes = 1;
  private batchBytes: number;
  private settings: Record<string, number> = {};
  /** Checksum of the source rows copied, accumulated batch by batch. */
  private expected: Checksum = { c: 0n, h: 0n };
  private readonly hash: string;

  constructor(
    private readonly store: ChStore,
    private readonly p: RepartitionPlan,
    private readonly ctx: ExecutionContext,
    private readonly hooks: RepartitionHooks = {},
  ) {
    this.batchBytes = p.batchBytes;
    this.hash = hashArgs(p.columns, new Set(p.nullable));
  }

  private q(name: string): string {
    return quoteQualified(this.p.db, name);
  }

  async run(): Promise<Outcome> {
    const p = this.p;
    let pausedAt = 0;
    let switchedAt = 0;
    let rounds = 0;
    try {
      this.settings = await this.store.copySettings(p.maxPartitions);
      await this.ctx.checkpoint(repartitionState(p, 'copying'));
      await this.store.exec(`CREATE TABLE ${this.q(p.shadow)} AS ${this.q(p.table)} ENGINE = ${p.engineSql}`);
      await this.store.exec(`SYSTEM STOP MERGES ${this.q(p.table)}`);
      await this.store.exec(`SYSTEM STOP MERGES ${this.q(p.shadow)}`);

      // Online rounds: writers keep writing; each round copies the parts added since the last.
      for (; rounds < p.maxRounds; rounds++) {
        const todo = (await this.liveParts(p.table, true)).filter((x) => !this.copied.has(x.name));
        const bytes = todo.reduce((s, x) => s + x.bytes, 0);
        if (rounds === 0) {
          this.totalBytes = Math.max(1, bytes);
          this.batchBytes = Math.max(p.batchBytes, Math.ceil(bytes / TARGET_BATCHES));
        }
        if (todo.length === 0 || (rounds > 0 && bytes <= p.pauseBytes)) break;
        await this.copy(p.table, todo, 'online');
      }
      // The bulk is checked while writes go on, so the pause only has to check the rest.
      const bulk = await this.checksum(p.shadow);
      if (!same(bulk, this.expected))
        throw new StateError(`verification failed: the copied parts of ${p.table} have ${show(this.expected)}, the copy ${show(bulk)}`);
      const shadowBefore = new Set((await this.store.parts(p.db, p.shadow)).map((x) => x.name));

      // Write pause: the table's name now serves a read-only view of the original.
      this.abortCheck();
      await this.ctx.checkpoint(repartitionState(p, 'paused'));
      await this.store.exec(`RENAME TABLE ${this.q(p.table)} TO ${this.q(p.old)}`);
      pausedAt = Date.now();
      await this.store.exec(`CREATE VIEW ${this.q(p.table)} AS SELECT * FROM ${this.q(p.old)}`);
      await this.drain(pausedAt);
      const all = await this.liveParts(p.old, false);
      const rest = all.filter((x) => !this.copied.has(x.name));
      const expectedBefore = this.expected;
      await this.copy(p.old, rest, 'paused');
      const added = (await this.store.parts(p.db, p.shadow)).filter((x) => !shadowBefore.has(x.name));
      const delta = await this.checksum(
        p.shadow,
        added.map((x) => x.name),
      );
      const want = { c: this.expected.c - expectedBefore.c, h: (this.expected.h - expectedBefore.h + WRAP) % WRAP };
      if (!same(delta, want))
        throw new StateError(`verification failed: the last parts of ${p.table} have ${show(want)}, their copy ${show(delta)}`);
      await this.verifyTotals(all);

      await this.hooks.beforeSwitch?.();
      this.abortCheck();
      await this.store.exec(`RENAME TABLE ${this.q(p.table)} TO ${this.q(p.gate)}, ${this.q(p.shadow)} TO ${this.q(p.table)}`);
      switchedAt = Date.now();
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0]!;
      try {
        await restoreOriginal(this.store, p);
      } catch (e2) {
        return {
          status: 'FAILED',
          reason: `${reason}; restoring the original failed: ${(e2 as Error).message}`,
          rowsCopied: this.rowsCopied,
          bytesMoved: this.bytesMoved,
        };
      }
      return {
        status: 'ROLLED_BACK',
        reason,
        rowsCopied: this.rowsCopied,
        bytesMoved: this.bytesMoved,
        verified: null,
        details: { rounds: String(rounds), batches: String(this.batches) },
      };
    }
    await this.ctx.checkpoint(repartitionState(p, 'switched'));
    const after = await finishSwitch(this.store, p, this.ctx.signal);
    return {
      status: 'SUCCEEDED',
      rowsCopied: this.rowsCopied,
      bytesMoved: this.bytesMoved,
      verified: true,
      details: {
        ...after,
        partitionKey: p.keyCanonical === '' ? 'tuple()' : p.keyCanonical,
        rounds: String(rounds + 1),
        batches: String(this.batches),
        checksum: String(this.expected.h),
        writePauseMs: String(switchedAt - pausedAt),
      },
    };
  }

  private abortCheck(): void {
    if (this.ctx.signal.aborted) throw stopRequestedError();
  }

  /**
   * Active parts of `name`. Every part copied so far must still be there: with merges stopped,
   * a missing one means a mutation, a dropped partition or a restart of the server changed the
   * data under the copy, and the run stops. In the online phase the number of parts per
   * partition is also bounded below parts_to_delay_insert, so that stopped merges never slow
   * the table's writers; the run stops (and rolls back) before that.
   */
  private async liveParts(name: string, online: boolean): Promise<Part[]> {
    const parts = await this.store.parts(this.p.db, name);
    const names = new Set(parts.map((x) => x.name));
    for (const c of this.copied.keys()) {
      if (!names.has(c))
        throw new StateError(
          `part ${c} of ${this.p.table} disappeared during the copy (mutation, dropped partition or server restart); nothing was switched`,
        );
    }
    if (online) await this.partsBound(name, parts);
    return parts;
  }

  /** Stops the run before `name` (merges stopped) has so many parts in a partition that inserts slow down. */
  private async partsBound(name: string, parts: Part[]): Promise<void> {
    const limit = Math.floor((await this.store.feature()).partsToDelayInsert * 0.8);
    const perPartition = new Map<string, number>();
    for (const x of parts) perPartition.set(x.partitionId, (perPartition.get(x.partitionId) ?? 0) + 1);
    const worst = Math.max(0, ...perPartition.values());
    if (worst >= limit) {
      throw new StateError(
        `${worst} parts in one partition of ${name} while merges are stopped (limit ${limit}): ${name === this.p.table ? 'the table receives too many small inserts for an online copy' : 'the copy needs bigger batches (batchBytes)'}`,
      );
    }
  }

  private async checksum(name: string, parts?: string[]): Promise<Checksum> {
    if (parts && parts.length === 0) return { c: 0n, h: 0n };
    const where = parts ? ` WHERE _part IN (${parts.map(quoteToken).join(', ')})` : '';
    const [r] = await this.store.rows<{ c: string; h: string }>(
      `SELECT count() AS c, sum(cityHash64(${this.hash})) AS h FROM ${this.q(name)}${where}`,
    );
    return { c: BigInt(r?.c ?? 0), h: BigInt(r?.h ?? 0) };
  }

  /** Copies `parts` of `from` into the shadow, whole partitions per batch, split or joined at batchBytes. */
  private async copy(from: string, parts: Part[], phase: 'online' | 'paused'): Promise<void> {
    const cols = this.p.columns.map(quoteIdent).join(', ');
    for (const batch of batchesOf(parts, this.batchBytes)) {
      this.abortCheck();
      const bytes = batch.reduce((s, x) => s + x.bytes, 0);
      for (let left = bytes; left > 0; left -= THROTTLE_SLICE) await this.ctx.throttle(Math.min(left, THROTTLE_SLICE));
      const names = batch.map((x) => x.name);
      await this.store.exec(
        `INSERT INTO ${this.q(this.p.shadow)} (${cols}) SELECT ${cols} FROM ${this.q(from)} WHERE _part IN (${names.map(quoteToken).join(', ')})`,
        this.settings,
      );
      // The source parts are immutable while merges are stopped: their checksum now is what was copied.
      const src = await this.checksum(from, names);
      const rows = batch.reduce((s, x) => s + x.rows, 0);
      if (src.c !== BigInt(rows))
        throw new StateError(`parts of ${this.p.table} changed during the copy: ${src.c} rows read, ${rows} listed`);
      this.expected = add(this.expected, src);
      for (const x of batch) this.copied.set(x.name, x);
      this.rowsCopied += rows;
      this.bytesMoved += bytes;
      this.batches++;
      await this.partsBound(this.p.shadow, await this.store.parts(this.p.db, this.p.shadow));
      await this.ctx.report({
        status: 'RUNNING',
        progress: Math.min(0.95, this.bytesMoved / this.totalBytes),
        rowsCopied: this.rowsCopied,
        bytesMoved: this.bytesMoved,
        details: { phase, batch: String(this.batches), partition: batch[0]!.partitionId },
      });
      await this.hooks.afterBatch?.(this.batches, phase);
    }
  }

  /** Waits for INSERTs that started before the pause (they may still add parts to the original). */
  private async drain(pausedAt: number): Promise<void> {
    const deadline = Date.now() + this.p.drainTimeoutMs;
    for (;;) {
      const sentAt = Date.now();
      // Such an INSERT has been running at least since the rename: elapsed >= now - pausedAt.
      if ((await this.store.insertsRunning(this.p.table, (sentAt - pausedAt) / 1000 - 0.05)) === 0) return;
      if (Date.now() > deadline)
        throw new UnavailableError(
          `INSERTs into ${this.p.table} that started before the write pause were still running after ${this.p.drainTimeoutMs} ms`,
        );
      await sleep(100);
    }
  }

  /** Every row of the original was copied (by part metadata) and the copy has the requested key. */
  private async verifyTotals(all: Part[]): Promise<void> {
    const rows = all.reduce((s, x) => s + x.rows, 0);
    if (rows !== this.rowsCopied || BigInt(rows) !== this.expected.c) {
      throw new StateError(`verification failed: ${this.p.table} has ${rows} rows, ${this.rowsCopied} were copied`);
    }
    const meta = await this.store.tableMeta(this.p.db, this.p.shadow);
    if (!meta || normalizeKey(meta.partitionKey) !== normalizeKey(this.p.keyCanonical)) {
      throw new StateError(
        `verification failed: the copy is partitioned by ${JSON.stringify(meta?.partitionKey ?? null)}, not ${this.p.keyCanonical}`,
      );
    }
  }
}

/**
 * cityHash64 arguments over `columns`: a nullable column enters as (isNull(c), assumeNotNull(c)),
 * since a NULL argument makes cityHash64 NULL and sum() would skip the whole row.
 */
export function hashArgs(columns: string[], nullable: ReadonlySet<string>): string {
  return columns.map((c) => (nullable.has(c) ? `isNull(${quoteIdent(c)}), assumeNotNull(${quoteIdent(c)})` : quoteIdent(c))).join(', ');
}
