/**
 * Validation of decoded telemetry, before anything is computed from it. Avro decoding already
 * guarantees the field types, but not the values (an empty eventId, a negative duration, a NaN
 * timestamp); and the `shardcast publish` CLI reads JSON Lines, where nothing is guaranteed.
 * Every check yields either the value or a one-line reason that names the field, which is what
 * goes into the dead letter or the CLI's rejection report.
 */
import { z } from 'zod';
import type { MetricSample, QueryEvent } from '../../schemas/types.js';

export type Validated<T> = { ok: true; value: T } | { ok: false; reason: string };

const nonEmpty = z.string().min(1, 'must be a non-empty string');
const nullableStr = z.string().nullable();
const count = z.number().int('must be an integer').min(0, 'must be >= 0');
/** Event time in ms since the epoch: between 1970 and year 3000. */
const eventTime = z
  .number()
  .int('must be an integer (ms since epoch)')
  .min(0, 'must be >= 0')
  .max(32_503_680_000_000, 'is after year 3000');

const DIALECTS = ['postgres', 'clickhouse', 'mysql', 'generic'] as const;
const OPERATIONS = ['select', 'insert', 'update', 'delete', 'ddl', 'other'] as const;
const STATUSES = ['ok', 'error', 'timeout', 'cancelled'] as const;

/** A decoded QueryEvent (every field present, as Avro gives it). */
export const QueryEventSchema = z.object({
  eventId: nonEmpty,
  ts: eventTime,
  source: nonEmpty,
  dialect: z.enum(DIALECTS),
  database: nullableStr,
  sql: nullableStr,
  fingerprint: nullableStr,
  tables: z.array(z.string()),
  operation: z.enum(OPERATIONS).nullable(),
  durationMs: z.number().min(0, 'must be >= 0').refine(Number.isFinite, 'must be finite'),
  rowsRead: count,
  rowsWritten: count,
  node: nullableStr,
  partition: nullableStr,
  keyValues: z.record(z.string(), z.string()),
  client: nullableStr,
  status: z.enum(STATUSES),
  txId: nullableStr,
});

/** JSON Lines input: only eventId, ts and source are required; the rest take Avro's defaults. */
const keyValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));
export const QueryEventJsonSchema = z.object({
  eventId: nonEmpty,
  ts: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Date.parse(v)) ? Date.parse(v) : v),
    z
      .number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be ms since epoch or an ISO-8601 time') })
      .int('must be an integer (ms since epoch)')
      .min(0, 'must be >= 0')
      .max(32_503_680_000_000, 'is after year 3000'),
  ),
  source: nonEmpty,
  dialect: z.enum(DIALECTS).default('generic'),
  database: nullableStr.default(null),
  sql: nullableStr.default(null),
  fingerprint: nullableStr.default(null),
  tables: z.array(z.string()).default([]),
  operation: z.enum(OPERATIONS).nullable().default(null),
  durationMs: z.number().min(0, 'must be >= 0').default(0),
  rowsRead: count.default(0),
  rowsWritten: count.default(0),
  node: nullableStr.default(null),
  partition: nullableStr.default(null),
  keyValues: z.record(z.string(), keyValue).default({}),
  client: nullableStr.default(null),
  status: z.enum(STATUSES).default('ok'),
  txId: nullableStr.default(null),
});

export const MetricSampleSchema = z.object({
  ts: eventTime,
  source: nonEmpty,
  node: nonEmpty,
  metric: nonEmpty,
  value: z.number().refine(Number.isFinite, 'must be finite'),
  labels: z.record(z.string(), z.string()),
});

export const MetricSampleJsonSchema = MetricSampleSchema.extend({
  labels: z.record(z.string(), keyValue).default({}),
});

function reason(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid';
  const field = issue.path.length > 0 ? issue.path.join('.') : 'value';
  let msg = issue.message;
  if (issue.code === 'invalid_type' && /received undefined/i.test(msg)) msg = 'is required';
  return `${field}: ${msg}`.replace(/\s+/g, ' ').slice(0, 300);
}

function run<T>(schema: z.ZodType<T>, v: unknown): Validated<T> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, reason: 'value: expected an object' };
  const r = schema.safeParse(v);
  return r.success ? { ok: true, value: r.data } : { ok: false, reason: reason(r.error) };
}

const DIALECT_SET: ReadonlySet<unknown> = new Set(DIALECTS);
const OPERATION_SET: ReadonlySet<unknown> = new Set(OPERATIONS);
const STATUS_SET: ReadonlySet<unknown> = new Set(STATUSES);
const MAX_TS = 32_503_680_000_000;
const isNullableStr = (x: unknown) => x === null || typeof x === 'string';
const isCount = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function isStringRecord(x: unknown): boolean {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  for (const k in x) if (typeof (x as Record<string, unknown>)[k] !== 'string') return false;
  return true;
}

function isStringArray(x: unknown): boolean {
  if (!Array.isArray(x)) return false;
  for (let i = 0; i < x.length; i++) if (typeof x[i] !== 'string') return false;
  return true;
}

/**
 * True when `v` certainly passes QueryEventSchema. This is the ingest hot path's check: zod's
 * safeParse copies every object it accepts, a cost (docs/decisions/0020-ingest-measurements.md)
 * for events Avro had already typed. It accepts nothing the schema refuses (a property test pins
 * that both agree); anything it does not accept goes through zod, which names the problem.
 */
export function isValidQueryEvent(v: unknown): v is QueryEvent {
  // an array with those properties set is an object to typeof, not to the schema
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const e = v as Record<string, unknown>;
  const ts = e.ts;
  const d = e.durationMs;
  return (
    typeof e.eventId === 'string' &&
    e.eventId.length > 0 &&
    typeof ts === 'number' &&
    Number.isSafeInteger(ts) &&
    ts >= 0 &&
    ts <= MAX_TS &&
    typeof e.source === 'string' &&
    e.source.length > 0 &&
    DIALECT_SET.has(e.dialect) &&
    isNullableStr(e.database) &&
    isNullableStr(e.sql) &&
    isNullableStr(e.fingerprint) &&
    isStringArray(e.tables) &&
    (e.operation === null || OPERATION_SET.has(e.operation)) &&
    typeof d === 'number' &&
    d >= 0 &&
    Number.isFinite(d) &&
    isCount(e.rowsRead) &&
    isCount(e.rowsWritten) &&
    isNullableStr(e.node) &&
    isNullableStr(e.partition) &&
    isStringRecord(e.keyValues) &&
    isNullableStr(e.client) &&
    STATUS_SET.has(e.status) &&
    isNullableStr(e.txId)
  );
}

/** A decoded QueryEvent: ok (the same object when it is valid), or the first problem as "field: message". */
export function validateQueryEvent(v: unknown): Validated<QueryEvent> {
  if (isValidQueryEvent(v)) return { ok: true, value: v };
  return run(QueryEventSchema, v) as Validated<QueryEvent>;
}

export function validateMetricSample(v: unknown): Validated<MetricSample> {
  return run(MetricSampleSchema, v) as Validated<MetricSample>;
}

/** One JSON Lines object for `shardcast publish queries`: defaults filled, or a reason. */
export function validateQueryEventJson(obj: unknown): Validated<QueryEvent> {
  return run(QueryEventJsonSchema, obj) as Validated<QueryEvent>;
}

/** One JSON Lines object for `shardcast publish metrics`. */
export function validateMetricSampleJson(obj: unknown): Validated<MetricSample> {
  return run(MetricSampleJsonSchema, obj) as Validated<MetricSample>;
}

/** Parses one JSON Lines line and validates it as a QueryEvent. */
export function parseQueryEventLine(line: string): Validated<QueryEvent> {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `json: ${(err as Error).message.split('\n')[0]}` };
  }
  return validateQueryEventJson(obj);
}
