/**
 * (source, node) → (total series, table → bucket → partition → series), as nested maps in front
 * of a window's id map. Building the "a|b|c|d|e" id string per event (and flattening it for the
 * lookup) was most of the window's garbage; the id is built only on a miss here, and the id map
 * stays the source of truth, so two paths whose ids coincide still share one series. The total
 * and the bucket series of an event share the (source, node) lookup.
 */
import type { SeriesState } from './series.js';

/** Index key for "absent": it cannot be a partition or node name. */
export const NONE = '\u0000';

/** The series of one source × node in one window: its total, and its table × bucket × partition series. */
export interface NodeSeries {
  total: SeriesState | undefined;
  buckets: Map<string, Map<string, Map<string, SeriesState>>>;
}

export class SeriesIndex {
  private readonly root = new Map<string, Map<string, NodeSeries>>();

  at(source: string, node: string): NodeSeries {
    let bySource = this.root.get(source);
    if (!bySource) {
      bySource = new Map();
      this.root.set(source, bySource);
    }
    let n = bySource.get(node);
    if (!n) {
      n = { total: undefined, buckets: new Map() };
      bySource.set(node, n);
    }
    return n;
  }

  bucket(n: NodeSeries, table: string, bucket: string, partition: string): SeriesState | undefined {
    return n.buckets.get(table)?.get(bucket)?.get(partition);
  }

  setBucket(n: NodeSeries, table: string, bucket: string, partition: string, s: SeriesState): void {
    let byTable = n.buckets.get(table);
    if (!byTable) {
      byTable = new Map();
      n.buckets.set(table, byTable);
    }
    let byBucket = byTable.get(bucket);
    if (!byBucket) {
      byBucket = new Map();
      byTable.set(bucket, byBucket);
    }
    byBucket.set(partition, s);
  }
}
