/**
 * Validation of decoded telemetry, before anything is computed from it. Avro decoding already
 * guarantees the field types, but not the values (an empty eventId, a negative duration, a NaN
 * timestamp); and the `shardcast publish` CLI reads JSON Lines, where nothing is guaranteed.
 * Every check yields either the value or a one-line reason that names the field, which is what
 * goes into the dead letter or the CLI's rejection report.
 */
import { z } from 'zod';
import type { MetricSample, QueryEvent } from '../../schemas/types.js';
import { queryEvent } from '../../schemas/queryEvent.js';
import { identifierProblem, MAX_DOUBLE, textProblem } from '../../schemas/recordChecks.js';

export type Validated<T> = { ok: true; value: T } | { ok: false; reason: string };

const nonEmpty = z.string().min(1, 'must be a non-empty string');
/** A name of something in a store (source, database, table, node): see identifierProblem. */
const identifier = nonEmpty.superRefine((s, ctx) => {
  const p = identifierProblem(s);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});
/** Free text: no control characters, no invalid UTF-8 (see textProblem). */
const text = z.string().superRefine((s, ctx) => {
  const p = textProblem(s);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});
const nullableStr = text.nullable();
/** Longer statements are not featurized (a parse of megabytes stalls the stage): the event is refused. */
export const MAX_SQL_CHARS = 256 * 1024;
/** Deeper parenthesis nesting is refused before any parser sees it (parsers recurse per level). */
export const MAX_SQL_NESTING = 256;

/** The deepest parenthesis nesting in `sql` (quotes not considered: an upper bound). */
export function sqlNesting(sql: string): number {
  let depth = 0;
  let max = 0;
  for (let i = sql.indexOf('('); i !== -1 && i < sql.length; i++) {
    const c = sql.charCodeAt(i);
    if (c === 40) max = Math.max(max, ++depth);
    else if (c === 41 && depth > 0) depth--;
  }
  return max;
}

const sql = text
  .max(MAX_SQL_CHARS, `is longer than ${MAX_SQL_CHARS} characters`)
  .refine((s) => sqlNesting(s) <= MAX_SQL_NESTING, `is nested deeper than ${MAX_SQL_NESTING} parentheses`)
  .nullable();
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
  source: identifier,
  dialect: z.enum(DIALECTS),
  database: identifier.nullable(),
  sql,
  fingerprint: nullableStr,
  tables: z.array(identifier),
  operation: z.enum(OPERATIONS).nullable(),
  durationMs: z.number().min(0, 'must be >= 0').max(MAX_DOUBLE, `is beyond ${MAX_DOUBLE}`),
  rowsRead: count,
  rowsWritten: count,
  node: identifier.nullable(),
  partition: nullableStr,
  keyValues: z.record(z.string(), z.string()),
  client: nullableStr,
  status: z.enum(STATUSES),
  txId: nullableStr,
});

/** JSON Lines input: only eventId, ts and source are required; the rest take Avro's defaults. */
const keyValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));
export const QueryEventJsonSchema = QueryEventSchema.omit({ eventId: true, ts: true, source: true })
  .extend({ keyValues: z.record(z.string(), keyValue) })
  .partial()
  .extend({
    eventId: nonEmpty,
    ts: z.preprocess(
      (v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Date.parse(v)) ? Date.parse(v) : v),
      z
        .number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be ms since epoch or an ISO-8601 time') })
        .int('must be an integer (ms since epoch)')
        .min(0, 'must be >= 0')
        .max(32_503_680_000_000, 'is after year 3000'),
    ),
    source: identifier,
  })
  // what the line leaves out takes the record's defaults, from the one place that has them
  .transform((v) => queryEvent(v));

export const MetricSampleSchema = z.object({
  ts: eventTime,
  source: identifier,
  node: identifier,
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
const isNullableStr = (x: unknown) => x === null || (typeof x === 'string' && textProblem(x) === null);
const isIdentifier = (x: unknown) => typeof x === 'string' && identifierProblem(x) === null;
const isNullableIdentifier = (x: unknown) => x === null || isIdentifier(x);
const isCount = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function isStringRecord(x: unknown): boolean {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  for (const k in x) if (typeof (x as Record<string, unknown>)[k] !== 'string') return false;
  return true;
}

function isIdentifierArray(x: unknown): boolean {
  if (!Array.isArray(x)) return false;
  for (let i = 0; i < x.length; i++) if (!isIdentifier(x[i])) return false;
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
    isIdentifier(e.source) &&
    DIALECT_SET.has(e.dialect) &&
    isNullableIdentifier(e.database) &&
    isNullableStr(e.sql) &&
    (e.sql === null || ((e.sql as string).length <= MAX_SQL_CHARS && sqlNesting(e.sql as string) <= MAX_SQL_NESTING)) &&
    isNullableStr(e.fingerprint) &&
    isIdentifierArray(e.tables) &&
    (e.operation === null || OPERATION_SET.has(e.operation)) &&
    typeof d === 'number' &&
    d >= 0 &&
    d <= MAX_DOUBLE &&
    isCount(e.rowsRead) &&
    isCount(e.rowsWritten) &&
    isNullableIdentifier(e.node) &&
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
