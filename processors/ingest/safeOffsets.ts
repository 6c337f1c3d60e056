/**
 * Which source offsets are safe to commit, and what a restart needs beside them. For each source
 * partition the safe offset is the highest one such that every event at or below it is
 * reflected in an emitted item: (first offset still held by an open window) − 1, or the highest
 * offset seen when no open window holds any; −1 when an open window holds the partition's first
 * offset (committed as "read again from 0", with the resume state). Offsets are JS numbers (exact below 2^53).
 */

/**
 * What a restarted aggregator needs besides the committed offsets to neither lose nor repeat
 * anything (kept in the commit's offset metadata): the event time through which every window was
 * closed (emitted or empty), and per partition the highest offset whose outputs were already
 * sent. Re-read events at or below that offset are skipped if their window is closed (already
 * counted, or already reported late) and re-aggregated if it was still open; their dead letters
 * are not sent twice.
 */
export interface ResumeState {
  closedThrough: number;
  seenThrough: Record<string, number>;
}

/** Every partition's safe offset ("topic:partition" → offset), with the resume state when asked for. */
export interface Progress {
  safeOffsets: Record<string, string>;
  resume?: ResumeState;
}

/** What an open window holds back: the first offset of each partition it took an event from. */
export interface OffsetHolder {
  readonly firstOffsets: ReadonlyMap<string, number>;
}

export class SafeOffsets {
  /** Per partition: the highest offset seen (a cell, so partition cursors can keep it). */
  private readonly maxSeen = new Map<string, { max: number }>();
  /** Per partition: the safe offset last reported. */
  private readonly lastSafe = new Map<string, number>();
  /** Per partition: offsets at or below this were handled before a restart (see ResumeState). */
  private readonly replayThrough = new Map<string, number>();

  /** The cell holding a partition's highest offset seen, created at −Infinity. */
  seenCell(key: string): { max: number } {
    let cell = this.maxSeen.get(key);
    if (!cell) {
      cell = { max: -Infinity };
      this.maxSeen.set(key, cell);
    }
    return cell;
  }

  /** Records that an offset of a partition was seen (handled, or held by a window). */
  seen(key: string, offset: number): void {
    const cell = this.seenCell(key);
    if (offset > cell.max) cell.max = offset;
  }

  /** Takes the offsets already handled before a restart. */
  resume(seenThrough: Record<string, number>): void {
    for (const [key, offset] of Object.entries(seenThrough)) this.replayThrough.set(key, offset);
  }

  /** True when this offset was already handled before a restart (its outputs were sent). */
  isReplay(key: string, offset: number): boolean {
    const through = this.replayThrough.get(key);
    return through !== undefined && offset <= through;
  }

  /**
   * Every partition's safe offset given what the open windows hold, if any changed since last
   * reported (null otherwise); with `withResume`, always, together with the ResumeState.
   */
  progress(open: ReadonlyMap<number, OffsetHolder>, withResume: boolean, closedThrough: number): Progress | null {
    let changed = false;
    for (const [key, { max }] of this.maxSeen) {
      let safe = max;
      for (const w of open.values()) {
        const first = w.firstOffsets.get(key);
        if (first !== undefined && first - 1 < safe) safe = first - 1;
      }
      // −1: the partition's first offset is still held. What is committed (withResume) reports it
      // all the same, as a commit of offset 0, so the resume state goes out with the windows that
      // closed meanwhile; the per-event progress waits for something safe.
      if (safe < -1 || (safe < 0 && !withResume)) continue;
      if (this.lastSafe.get(key) !== safe) {
        this.lastSafe.set(key, safe);
        changed = true;
      }
    }
    if (!changed && !(withResume && this.lastSafe.size > 0)) return null;
    // every partition's safe offset, so each progress item is complete on its own
    const safeOffsets: Record<string, string> = {};
    for (const [key, safe] of this.lastSafe) safeOffsets[key] = String(safe);
    if (!withResume) return { safeOffsets };
    const seenThrough: Record<string, number> = {};
    for (const [key, { max }] of this.maxSeen) if (max >= 0) seenThrough[key] = max;
    return { safeOffsets, resume: { closedThrough, seenThrough } };
  }
}
