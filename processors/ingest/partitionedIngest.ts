/**
 * The second half of ingest when it scales out: one ingest core per internal partition this
 * instance owns. Series are keyed, so each (series, window) lives on one internal partition;
 * a core per partition means a partition's open windows, safe offsets and resume state move
 * with it when the group reassigns it: the instance giving it up drops them uncommitted, and
 * the one taking it over rebuilds them from Kafka, as a restart does.
 * Event time on every partition comes from the marks of all source partitions (route.ts), so a
 * partition's results do not depend on which instance owns it.
 */
import type { ResumeState } from './safeOffsets.js';
import { IngestCore, type IngestConfig, type IngestInput, type IngestOutput } from './processor.js';

export class PartitionedIngest {
  private readonly cores = new Map<number, IngestCore>();

  constructor(
    private readonly cfg: IngestConfig,
    private readonly now: () => number,
  ) {}

  /** Takes a partition over from where its committed state (`resume`) says; `origins` are the source partitions. */
  own(partition: number, resume: ResumeState | undefined, origins: readonly string[]): void {
    const core = new IngestCore({ ...this.cfg, eventTimeFromMarks: true, ...(resume ? { resume } : {}) }, this.now);
    core.window.assignOrigins(origins);
    this.cores.set(partition, core);
  }

  /** Gives a partition up: its open windows are dropped; its next owner re-reads them. */
  release(partition: number): void {
    this.cores.delete(partition);
  }

  owns(partition: number): boolean {
    return this.cores.has(partition);
  }

  get owned(): number[] {
    return [...this.cores.keys()];
  }

  /** A fetched batch of one owned partition → its outputs (undefined when the partition is not owned). */
  addBatch(partition: number, batch: readonly IngestInput[]): IngestOutput[] | undefined {
    return this.cores.get(partition)?.addBatch(batch);
  }

  /** Event time moved on by `ms` on every owned partition (the source went quiet). */
  advance(ms: number): Map<number, IngestOutput[]> {
    const out = new Map<number, IngestOutput[]>();
    for (const [p, core] of this.cores) {
      const xs = core.advance(ms);
      if (xs.length > 0) out.set(p, xs);
    }
    return out;
  }
}
