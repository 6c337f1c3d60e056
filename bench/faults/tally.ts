/**
 * Counting a fault row on the topic itself: events accounted for are the queries of the
 * aggregates of each (series, window) taken once; every further aggregate of the same
 * (series, window) is a duplicate, and so is any count above the events sent.
 */
export interface Tally {
  eventsIn: number;
  accounted: number;
  lost: number;
  duplicated: number;
  /** (series, window) pairs emitted more than once. */
  repeatedWindows: number;
}

export interface CountedWindow {
  seriesId: string;
  windowStart: number;
  queries: number;
}

export function tallyWindows(eventsIn: number, windows: readonly CountedWindow[]): Tally {
  const first = new Map<string, number>();
  let repeatedEvents = 0;
  const repeated = new Set<string>();
  for (const w of windows) {
    const key = `${w.seriesId}@${w.windowStart}`;
    if (first.has(key)) {
      repeatedEvents += w.queries;
      repeated.add(key);
    } else first.set(key, w.queries);
  }
  let accounted = 0;
  for (const q of first.values()) accounted += q;
  return {
    eventsIn,
    accounted,
    lost: Math.max(0, eventsIn - accounted),
    duplicated: repeatedEvents + Math.max(0, accounted - eventsIn),
    repeatedWindows: repeated.size,
  };
}

/** A ClickHouse table's rows for the events sent: distinct ids accounted for, extra rows duplicated. */
export function tallyRows(eventsIn: number, rows: number, distinctIds: number): Tally {
  return {
    eventsIn,
    accounted: distinctIds,
    lost: Math.max(0, eventsIn - distinctIds),
    duplicated: rows - distinctIds,
    repeatedWindows: 0,
  };
}
