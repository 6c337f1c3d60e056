/**
 * The ingest core as an RxJS operator over fetched batches: what the pipeline pipes its decoded
 * batches and partition assignments through, with the processing-time scheduler that stamps dead
 * letters and closes the windows of a source gone quiet.
 */
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { IngestCore, type IngestConfig, type IngestInput, type IngestOutput } from './processor.js';

/** The source partitions the consumer owns now (after a group join); see WindowAggregator.assign. */
export interface PartitionAssignment {
  assigned: readonly { topic: string; partition: number }[];
}

/** What the batch operator takes: a fetched batch, or a change of partition ownership. */
export type IngestBatch = readonly IngestInput[] | PartitionAssignment;

export interface IngestOperatorConfig extends IngestConfig {
  /** With a scheduler: advance the watermark by elapsed scheduler time when no event arrives. */
  idleFlushMs?: number;
  /** Processing-time scheduler (default asyncScheduler). */
  scheduler?: SchedulerLike;
  /**
   * Emit the open windows when the source completes (default true: a finite stream is over).
   * A pipeline that stops to be restarted passes false: open windows are rebuilt from Kafka.
   */
  flushOnComplete?: boolean;
}

/**
 * decode result → validate → featurize → window, as one operator over batches (what a Kafka
 * fetch delivers): one array of outputs per input batch (possibly empty), so the hot path pays
 * one notification per batch, not per event, and the safe offsets are computed once per batch.
 * Call `initSqlParsers()` once before subscribing when postgres SQL is expected. `scheduler`
 * (default asyncScheduler) stamps dead letters and drives `idleFlushMs`.
 */
export function ingestBatchProcessor(cfg: IngestOperatorConfig): OperatorFunction<IngestBatch, IngestOutput[]> {
  return (source) =>
    new Observable<IngestOutput[]>((subscriber) => {
      const scheduler: SchedulerLike = cfg.scheduler ?? asyncScheduler;
      const core = new IngestCore(cfg, () => scheduler.now());
      let idle: Subscription | undefined;
      let arrived = 0;
      if (cfg.idleFlushMs && cfg.scheduler) {
        const every = cfg.idleFlushMs;
        let atLastTick = 0;
        idle = cfg.scheduler.schedule(function tick() {
          if (arrived === atLastTick) {
            const xs = core.advance(every);
            if (xs.length > 0) subscriber.next(xs);
          }
          atLastTick = arrived;
          this.schedule(undefined, every);
        }, every);
      }
      const sub = source.subscribe({
        next: (envs) => {
          if (!Array.isArray(envs)) {
            core.window.assign((envs as PartitionAssignment).assigned);
            return;
          }
          arrived += envs.length;
          subscriber.next(envs.length === 1 ? core.add(envs[0]!) : core.addBatch(envs));
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          idle?.unsubscribe();
          if (cfg.flushOnComplete !== false) subscriber.next(core.flush());
          subscriber.complete();
        },
      });
      return () => {
        idle?.unsubscribe();
        sub.unsubscribe();
      };
    });
}
