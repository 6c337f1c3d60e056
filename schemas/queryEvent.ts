/**
 * One QueryEvent from what its producer knows: the identity fields plus whatever else is known;
 * every other field takes its Avro default (QueryEvent.avsc; the dialect, which has none there,
 * is 'generic' as for JSON Lines input), so producers in the project
 * (collectors, benchmarks, fixtures) never spell the whole record out and drift from the schema.
 */
import type { QueryEvent } from './types.js';

const DEFAULTS: Omit<QueryEvent, 'eventId' | 'ts' | 'source'> = {
  dialect: 'generic',
  database: null,
  sql: null,
  fingerprint: null,
  tables: [],
  operation: null,
  durationMs: 0,
  rowsRead: 0,
  rowsWritten: 0,
  node: null,
  partition: null,
  keyValues: {},
  client: null,
  status: 'ok',
  txId: null,
};

export function queryEvent(fields: Pick<QueryEvent, 'eventId' | 'ts' | 'source'> & Partial<QueryEvent>): QueryEvent {
  return { ...DEFAULTS, tables: [], keyValues: {}, ...fields };
}
