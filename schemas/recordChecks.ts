/**
 * What Avro's types cannot say about a decoded record: numbers that are NaN, infinite, negative
 * or absurdly large, event times outside 1970..3000, strings that were not valid UTF-8 (the
 * decoder turns bad bytes into U+FFFD) or that carry control characters, and identifiers (table,
 * node, store, source names) that could not name anything in a store. One walk over the value
 * beside its avsc Type; the first problem comes back as "field: message", for the dead letter.
 */
import type avro from 'avsc';

/** Event times (the schemas' `timestamp-millis` fields): 1970 to year 3000, as ingest accepts. */
const TIME_FIELDS: ReadonlySet<string> = new Set(['ts', 'issuedAt', 'originTs', 'windowStart', 'windowEnd', 'peakAt', 'deadline']);
const MAX_TIME = 32_503_680_000_000;
/** Doubles beyond this are no load, latency or cost this system can mean. */
export const MAX_DOUBLE = 1e15;
/** Fields that name a store object or a process: checked as identifiers. */
const IDENTIFIER_FIELDS: ReadonlySet<string> = new Set([
  'source',
  'database',
  'tables',
  'table',
  'node',
  'store',
  'sourceNode',
  'targetNode',
]);
const MAX_IDENTIFIER = 255;
// C0/C1 controls but tab, newline, carriage return; U+FFFD is what the decoder left of bad UTF-8
const BAD_TEXT = /(?![\t\n\r])[\p{Cc}\ufffd]/u;
// quotes and statement separators, and invisible or direction-changing characters
const BAD_IDENTIFIER = /["'`;\\\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]|\s/u;

/** Why `text` is no good identifier, or null. Unicode letters are fine: stores quote names. */
export function identifierProblem(text: string): string | null {
  if (text.length === 0) return 'is empty';
  if (text.length > MAX_IDENTIFIER) return `is longer than ${MAX_IDENTIFIER} characters`;
  if (BAD_TEXT.test(text)) return 'has control characters or invalid UTF-8';
  if (BAD_IDENTIFIER.test(text)) return 'has quotes, separators, spaces or invisible characters';
  return null;
}

/** Why free `text` is no good (control characters, invalid UTF-8), or null. */
export function textProblem(text: string): string | null {
  return BAD_TEXT.test(text) ? 'has control characters or invalid UTF-8' : null;
}

function numberProblem(field: string, x: number, integer: boolean): string | null {
  if (!Number.isFinite(x)) return 'must be finite';
  if (integer && x < 0) return 'must be >= 0';
  if (TIME_FIELDS.has(field) && x > MAX_TIME) return 'is after year 3000';
  if (!integer && Math.abs(x) > MAX_DOUBLE) return `is beyond ±${MAX_DOUBLE}`;
  return null;
}

/** The first problem of `value` (a record decoded with `type`) as "path: message", or null. */
export function recordProblem(type: avro.Type, value: unknown): string | null {
  return walk(type, value, '', '');
}

function walk(type: avro.Type, value: unknown, path: string, field: string): string | null {
  const at = (msg: string) => `${path || 'value'}: ${msg}`;
  switch (type.typeName) {
    case 'record': {
      const rec = value as Record<string, unknown>;
      for (const f of (type as avro.types.RecordType).fields) {
        const p = walk(f.type, rec[f.name], path ? `${path}.${f.name}` : f.name, f.name);
        if (p) return p;
      }
      return null;
    }
    case 'array': {
      const items = (type as avro.types.ArrayType).itemsType;
      const arr = value as unknown[];
      for (let i = 0; i < arr.length; i++) {
        const p = walk(items, arr[i], `${path}[${i}]`, field);
        if (p) return p;
      }
      return null;
    }
    case 'map': {
      const values = (type as avro.types.MapType).valuesType;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const kp = textProblem(k);
        if (kp) return at(`key ${kp}`);
        const p = walk(values, v, `${path}.${k}`, k);
        if (p) return p;
      }
      return null;
    }
    case 'union:unwrapped': {
      if (value === null) return null;
      const branch = (type as avro.types.UnwrappedUnionType).types.find((t) => t.typeName !== 'null' && t.isValid(value));
      return branch ? walk(branch, value, path, field) : null;
    }
    case 'string': {
      const s = value as string;
      const p = IDENTIFIER_FIELDS.has(field) ? identifierProblem(s) : textProblem(s);
      return p ? at(p) : null;
    }
    case 'int':
    case 'long': {
      const p = numberProblem(field, value as number, true);
      return p ? at(p) : null;
    }
    case 'float':
    case 'double': {
      const p = numberProblem(field, value as number, false);
      return p ? at(p) : null;
    }
    default:
      return null;
  }
}
