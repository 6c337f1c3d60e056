/**
 * The wiring of a stage that several instances share partition by partition, exactly once
 * (ingest's two halves when it scales out): each input partition an instance owns has its own
 * transactional producer (partitionProducers.ts), and what the stage produced for a partition
 * goes out with that partition's offsets in one Kafka transaction. Taking a partition over:
 * open its producer (fencing the previous owner), then read what the group committed for it
 * once that has settled (topics/consumer.ts settledCommittedOffsets), then hand it to the stage.
 * Giving one up: the stage drops what it held for it, uncommitted.
 * Each rebalance gives up and takes over every partition (as Kafka's eager rebalance does); an
 * assignment that a newer one superseded while it waited its turn is skipped.
 * Every `flushMs` each partition with pending work is sent and committed.
 *
 * A failed transaction is aborted and redone whole with backoff (a retriable failure), so a
 * send retried inside it cannot leave a duplicate. Before a redo the partition's producer is
 * opened afresh, which makes the broker end the failed try (a commit whose answer was lost
 * completes), and the committed offset then says whether it went through, or whether another
 * owner committed since (topics/transactionOutcome.ts): then, as when a transaction is refused
 * because the producer was fenced, the partition moved to another instance: what was pending for
 * it is dropped (its owner re-reads it) and the stage goes on. Unless the group still assigns it
 * here (the fencing instance acted on an assignment already replaced): then this instance takes
 * it back and fetches it again from its committed offset, or nobody would handle it until the
 * next rebalance.
 */
import { concatMap, defaultIfEmpty, endWith, interval, lastValueFrom, map, merge, Subject, takeUntil } from 'rxjs';
import { TOPICS } from '../schemas/topics.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Envelope } from '../schemas/envelope.js';
import type { CommitPosition } from '../processors/ingest/commitMetadata.js';
import { consumeTopics, settledCommittedOffsets, type FetchBytes } from '../topics/consumer.js';
import { consumeTopicsOnThread } from '../topics/threadedConsumer.js';
import type { PipelineContext } from './context.js';
import type { RunningStage, StageOutput, StageStats } from './stage.js';
import { failureAction, initialHealth, stageRetrying, type BackoffOptions, type Retrying, type StageHealth } from './failure.js';
import { PartitionProducers } from './partitionProducers.js';
import { isFenced, transactionOutcome, type CommittedAt } from '../topics/transactionOutcome.js';

/** What a partition has ready: outputs to send and the positions (with metadata) to commit with them. */
export interface PartitionFlush {
  outputs: StageOutput[];
  positions: CommitPosition[];
}

export interface PartitionedSpec {
  name: string;
  groupId: string;
  topic: string;
  /** `<prefix>-<partition>` is the transactional id of a partition's producer. */
  transactionalPrefix: string;
  fetchBytes?: FetchBytes;
  /** How long the group waits for a silent member before giving its partitions away. */
  sessionTimeoutMs?: number;
  /** Consume on a worker thread (topics/threadedConsumer.ts), as the plain ingest path does. */
  consumerThread?: boolean;
  backoff?: BackoffOptions;
  /** How often pending partitions are sent and committed (default 200 ms). */
  flushMs?: number;
  /** Messages received but not yet handled above which fetching waits (default 50,000). */
  maxPending?: number;
  /** Takes a partition over, from what the group committed for it (read after the previous owner was fenced). */
  own(partition: number, committed: { offset: string; metadata: string | null } | undefined): void | Promise<void>;
  /** Gives a partition up: drop what is held for it. */
  release(partition: number): void;
  /** A fetched batch of one owned partition; `retrying` wraps steps that may fail retriably. */
  handle(batch: Envelope<Buffer | null>[], retrying: Retrying): Promise<void>;
  /** What to send and commit for a partition now, taken out of the stage (null: nothing). */
  take(partition: number): PartitionFlush | null | Promise<PartitionFlush | null>;
  /** Each flush period, before flushing (idle sources close their windows here). */
  tick?(): void;
}

export interface PartitionedStage extends RunningStage {
  health: StageHealth;
  /** Partitions this instance owns now. */
  owned(): number[];
  /** Partitions given up because their producer was fenced by a newer owner. */
  fencedCount(): number;
}

/** Another owner committed for the partition while this instance's transaction for it failed. */
class PartitionOvertaken extends Error {
  constructor(partition: number) {
    super(`partition ${partition} was committed by another owner`);
  }
}

type Step = { assigned: number[]; generation: number } | { batch: Envelope<Buffer | null>[] } | { tick: true };

/**
 * Numbers the assignments as they arrive and tells, when one's turn to be applied comes, whether
 * a newer one arrived meanwhile. A stage busy with a long step can have several queued; applying
 * a superseded one would open the producers of partitions this member no longer owns, fencing
 * their current owners, who then give them up, and nobody handles them until the next rebalance.
 */
export function assignmentGenerations(): { arrived(): number; superseded(generation: number): boolean } {
  let latest = 0;
  return {
    arrived: () => ++latest,
    superseded: (generation) => generation < latest,
  };
}

export async function startPartitionedStage(ctx: PipelineContext, spec: PartitionedSpec): Promise<PartitionedStage> {
  const stats: StageStats = { consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 };
  const health = initialHealth();
  const stopped = new AbortController();
  let stopping = false;
  let fenced = 0;
  const retrying = stageRetrying(spec.name, { health, backoff: spec.backoff, signal: stopped.signal, log: ctx.log });
  const producers = new PartitionProducers(ctx.kafka, ctx.serde, spec.transactionalPrefix);
  const owned = new Set<number>();
  /**
   * Per owned partition, the first offset not yet handled. After a rebalance kafkajs fetches a
   * partition again from its committed offset even when this member kept it (the commits go
   * through transactions, which its consumer does not know of), and a partition taken over may
   * be fetched from before what its previous owner committed last: what lies below is skipped.
   */
  const next = new Map<number, bigint>();
  /** Per owned partition, the committed position its pending output builds on (taken over at, or last committed). */
  const base = new Map<number, CommittedAt>();
  const maxPending = spec.maxPending ?? 50_000;
  const consumeOpts = {
    groupId: spec.groupId,
    topics: [spec.topic],
    ...(spec.fetchBytes ? { fetchBytes: spec.fetchBytes } : {}),
    ...(spec.sessionTimeoutMs ? { sessionTimeoutMs: spec.sessionTimeoutMs } : {}),
    gate: async () => {
      while (!stopping && source.received - stats.consumed > maxPending) await sleep(5);
    },
  };
  const source = spec.consumerThread
    ? await consumeTopicsOnThread(ctx.cfg, { ...consumeOpts, clientId: `shardcast-${spec.name}-consumer` })
    : await consumeTopics(ctx.kafka, consumeOpts);

  /** Takes partitions over: their producers first (fencing the previous owners), then what was committed for them. */
  const own = async (partitions: number[]) => {
    if (partitions.length === 0) return;
    for (const p of partitions) await retrying('fence', () => producers.open(p));
    const committed = await retrying('offsets', () => settledCommittedOffsets(ctx.kafka, spec.groupId, [spec.topic]));
    for (const p of partitions) {
      const mine = committed.find((c) => c.partition === p && BigInt(c.offset) >= 0n);
      // a synchronous hook (ingest's) runs on with no turn of the event loop in between
      const owning = spec.own(p, mine ? { offset: mine.offset, metadata: mine.metadata } : undefined);
      if (owning instanceof Promise) await owning;
      next.set(p, mine ? BigInt(mine.offset) : -1n);
      base.set(p, mine ? { offset: mine.offset, metadata: mine.metadata } : null);
      owned.add(p);
    }
  };
  /**
   * Per partition taken back after a fence (takeBack): it is fetched again from its committed
   * offset, and batches from this offset on were fetched before and are dropped until the refetch
   * arrives (its first batch starts below it).
   */
  const refetching = new Map<number, bigint>();
  const release = async (partition: number) => {
    owned.delete(partition);
    next.delete(partition);
    refetching.delete(partition);
    base.delete(partition);
    spec.release(partition);
    await producers.close(partition);
  };

  /** The partitions of the assignment applied last, and its arrival number. */
  let assigned = new Set<number>();
  let assignedGeneration = 0;
  /**
   * Every assignment starts every partition afresh from what was committed, also those this
   * member had before: it may have missed generations (frozen past its session timeout) in which
   * another member owned and committed them, and kafkajs fetches them again from the committed
   * offset anyway. What was pending and uncommitted is dropped and redone.
   */
  const assign = async (partitions: number[], generation: number) => {
    assigned = new Set(partitions);
    assignedGeneration = generation;
    for (const p of [...owned]) await release(p);
    await own(partitions);
    ctx.log.info({ stage: spec.name, owned: [...owned].sort((a, b) => a - b) }, 'partitions assigned');
  };

  /**
   * Partition `p` was fenced while the group still assigns it to this member: another instance
   * applied an assignment that was no longer current and opened its producer, and nobody else
   * handles it until the next rebalance. This member takes it over again (fencing that opener)
   * and, when what it had handled (up to `handledTo`) goes past the committed offset, fetches it
   * again from there.
   */
  const takeBack = async (p: number, handledTo: bigint) => {
    await own([p]);
    const from = next.get(p)!;
    if (from < handledTo) {
      refetching.set(p, handledTo);
      source.seek(spec.topic, p, (from >= 0n ? from : 0n).toString());
    }
    ctx.log.warn(
      { stage: spec.name, partition: p, from: String(from) },
      'partition fenced by another instance while assigned here: taken back from its committed offset',
    );
  };

  /**
   * What became of partition `p`'s failed transaction that would have committed `tried`: asked
   * after its producer was opened afresh, so the broker has ended it. A flush that commits no
   * position of `p` cannot be told apart and is redone.
   */
  const outcomeOf = async (p: number, tried: CommitPosition | undefined) => {
    if (!tried) return 'not-committed';
    const committed = await settledCommittedOffsets(ctx.kafka, spec.groupId, [spec.topic]);
    const c = committed.find((y) => y.topic === spec.topic && y.partition === p);
    const triedAt = { offset: (BigInt(tried.offset) + 1n).toString(), metadata: tried.metadata ?? null };
    return transactionOutcome(base.get(p) ?? null, triedAt, c ? { offset: c.offset, metadata: c.metadata } : null);
  };

  const flush = async () => {
    for (const p of [...owned]) {
      const taking = spec.take(p);
      const f = taking instanceof Promise ? await taking : taking;
      if (!f) continue;
      let producer = producers.of(p);
      if (!producer) continue;
      const tried = f.positions.find((x) => x.topic === spec.topic && x.partition === p);
      let attempt = 0;
      try {
        await retrying('send', async () => {
          if (attempt++ > 0) {
            producer = await producers.open(p);
            const outcome = await outcomeOf(p, tried);
            if (outcome === 'committed') return;
            if (outcome === 'overtaken') throw new PartitionOvertaken(p);
          }
          await producer!.sendInTransaction(f.outputs, { groupId: spec.groupId, positions: f.positions });
        });
      } catch (err) {
        if (!isFenced(err) && !(err instanceof PartitionOvertaken)) throw err;
        fenced++;
        const handledTo = next.get(p) ?? -1n;
        await release(p);
        // a newer assignment waiting its turn decides instead (it takes over what it gives here)
        if (assigned.has(p) && !stopping && !generations.superseded(assignedGeneration)) {
          await takeBack(p, handledTo);
          continue;
        }
        // another instance owns the partition now and re-reads what this flush held
        ctx.log.warn({ stage: spec.name, partition: p }, 'partition taken over by another instance; its pending output dropped');
        continue;
      }
      if (tried) base.set(p, { offset: (BigInt(tried.offset) + 1n).toString(), metadata: tried.metadata ?? null });
      for (const o of f.outputs) {
        if (o.topic === TOPICS.dlq.name) stats.deadLettered += o.records.length;
        else stats.produced += o.records.length;
      }
      stats.batches++;
    }
  };

  const step = async (s: Step) => {
    if ('assigned' in s) {
      if (!generations.superseded(s.generation)) return assign(s.assigned, s.generation);
      ctx.log.info({ stage: spec.name, skipped: s.assigned }, 'an assignment superseded before it was applied: skipped');
      return;
    }
    if ('tick' in s) {
      spec.tick?.();
      return flush();
    }
    const p = s.batch[0]!.partition;
    stats.consumed += s.batch.length;
    // a batch fetched before the partition moved away: its new owner reads it again
    if (!owned.has(p)) return;
    const stale = refetching.get(p);
    if (stale !== undefined) {
      // fetched before the partition was taken back: the refetch brings it again
      if (BigInt(s.batch[0]!.offset) >= stale) return;
      refetching.delete(p);
    }
    const from = next.get(p)!;
    const fresh = BigInt(s.batch[0]!.offset) >= from ? s.batch : s.batch.filter((m) => BigInt(m.offset) >= from);
    if (fresh.length === 0) return;
    await spec.handle(fresh, retrying);
    stats.handled += fresh.length;
    next.set(p, BigInt(fresh[fresh.length - 1]!.offset) + 1n);
  };

  const generations = assignmentGenerations();
  // Stopping completes the consumer's streams; the ticks end with them, after one last flush.
  const draining = new Subject<void>();
  const steps = merge(
    source.assignments$.pipe(
      map((a): Step => ({ assigned: a.filter((x) => x.topic === spec.topic).map((x) => x.partition), generation: generations.arrived() })),
    ),
    source.batches$.pipe(map((batch): Step => ({ batch }))),
    interval(spec.flushMs ?? 200).pipe(
      takeUntil(draining),
      map((): Step => ({ tick: true })),
    ),
  ).pipe(endWith<Step>({ tick: true }));
  const done = lastValueFrom(
    steps.pipe(
      concatMap((s) => step(s)),
      defaultIfEmpty(undefined),
    ),
  ).then(
    () => undefined,
    (err: unknown) => {
      if (stopping && failureAction(err) === 'retry') {
        ctx.log.warn({ err: (err as Error).message, stage: spec.name }, 'stopped while retrying; the flush was not committed');
      } else {
        Object.assign(health, { state: 'failed', lastError: (err as Error).message ?? String(err), since: Date.now() });
        ctx.log.error({ err, stage: spec.name }, `${spec.name} failed; its pending output was not committed`);
      }
      throw err;
    },
  );

  return {
    stats,
    source,
    done,
    health,
    groupId: spec.groupId,
    topics: [spec.topic],
    owned: () => [...owned],
    fencedCount: () => fenced,
    async stop() {
      stopping = true;
      stopped.abort();
      source.drain();
      draining.next();
      await done.catch(() => undefined);
      await source.stop();
      await producers.closeAll();
    },
  };
}
