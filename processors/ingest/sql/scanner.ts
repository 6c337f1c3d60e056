/**
 * A fast, allocation-light SQL literal scanner.
 *
 * Why it exists: parsing SQL with a real grammar is far too slow for every statement at 100k
 * events/s (docs/decisions/0020-ingest-measurements.md). Real workloads, however, repeat a small number of statement *shapes* with
 * different literals. This scanner splits a statement, in one pass and without a grammar, into
 * (a) a cache key — the statement with every literal replaced by `?`, comments dropped and
 * whitespace collapsed — and (b) the literals themselves, in order, with their positions and
 * decoded values. The featurizer parses a statement with the real parser only the first time
 * its key is seen, and on later hits re-fills the parsed predicates from the scanned literals.
 *
 * It is deliberately conservative: anything it cannot classify is kept verbatim in the key, so
 * two statements share a key only when they differ in literals alone.
 *
 * `scanSql` is one single-pass loop over the statement (split up, its per-character path would
 * cross calls); keyBuilder.ts holds the key it writes into, templateId.ts a template's identity.
 */
import type { Dialect } from '../../../schemas/types.js';
import { KeyBuilder, Prev, type ScanResult } from './keyBuilder.js';

export type { ScannedLiteral, ScanResult } from './keyBuilder.js';

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isWordStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
const isWord = (c: number) => isWordStart(c) || isDigit(c) || c === 36; /* $ inside identifiers */

/** Words after which a sign is unary (an operand is expected next). */
const OPERAND_EXPECTING = new Set([
  'select',
  'where',
  'and',
  'or',
  'not',
  'in',
  'between',
  'values',
  'set',
  'when',
  'then',
  'else',
  'limit',
  'offset',
  'on',
  'having',
  'by',
  'like',
  'is',
  'as',
  'return',
  'case',
  'interval',
  'array',
  'prewhere',
  'top',
  'distinct',
  'all',
  'any',
  'some',
  'exists',
]);

/**
 * Scans `sql` for `dialect`. Double-quoted text is an identifier except for mysql, where it is a
 * string; backslash escapes inside strings are honoured for mysql and clickhouse.
 */
export function scanSql(sql: string, dialect: Dialect): ScanResult {
  const n = sql.length;
  const backslash = dialect === 'mysql' || dialect === 'clickhouse';
  const dquoteIsString = dialect === 'mysql';
  const b = builder.reset(sql);
  let wordStart = 0;
  let wordEnd = 0;
  let i = 0;

  while (i < n) {
    const c = sql.charCodeAt(i);
    // whitespace: collapse
    if (isSpace(c)) {
      // a single plain space stays in the verbatim segment (the common case, no copy)
      if (c === 32 && !isSpace(sql.charCodeAt(i + 1)) && i > 0) {
        i++;
        continue;
      }
      b.flush(i);
      while (i < n && isSpace(sql.charCodeAt(i))) i++;
      b.segStart = i;
      b.pendingSpace = true;
      continue;
    }
    // comments
    if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      b.flush(i);
      while (i < n && sql.charCodeAt(i) !== 10) i++;
      b.segStart = i;
      b.pendingSpace = true;
      continue;
    }
    if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      b.flush(i);
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        const d = sql.charCodeAt(i);
        if (d === 42 && sql.charCodeAt(i + 1) === 47) {
          depth--;
          i += 2;
        } else if (d === 47 && sql.charCodeAt(i + 1) === 42 && dialect === 'postgres') {
          depth++;
          i += 2;
        } else i++;
      }
      b.segStart = i;
      b.pendingSpace = true;
      continue;
    }
    // string literals: '...', E'...', N'...', X'...', B'...'
    if (
      c === 39 /* ' */ ||
      ((c === 69 || c === 101 || c === 78 || c === 110 || c === 88 || c === 120 || c === 66 || c === 98) &&
        sql.charCodeAt(i + 1) === 39 &&
        (i === 0 || !isWord(sql.charCodeAt(i - 1))))
    ) {
      const start = i;
      const prefixed = c !== 39;
      const escapes = backslash || (prefixed && (c === 69 || c === 101));
      i += prefixed ? 2 : 1;
      let value = '';
      let runStart = i;
      let closed = false;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (d === 39) {
          if (sql.charCodeAt(i + 1) === 39) {
            value += sql.slice(runStart, i + 1);
            i += 2;
            runStart = i;
            continue;
          }
          value += sql.slice(runStart, i);
          i++;
          closed = true;
          break;
        }
        if (d === 92 /* \ */ && escapes && i + 1 < n) {
          value += sql.slice(runStart, i) + unescapeChar(sql.charCodeAt(i + 1));
          i += 2;
          runStart = i;
          continue;
        }
        i++;
      }
      if (!closed) {
        b.flush(start);
        b.segStart = start;
        i = n;
        break;
      } // unterminated: keep verbatim
      b.emitLiteral(start, i, 'str', value);
      continue;
    }
    // mysql double-quoted strings
    if (c === 34 && dquoteIsString) {
      const start = i;
      i++;
      let value = '';
      let runStart = i;
      let closed = false;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (d === 34) {
          if (sql.charCodeAt(i + 1) === 34) {
            value += sql.slice(runStart, i + 1);
            i += 2;
            runStart = i;
            continue;
          }
          value += sql.slice(runStart, i);
          i++;
          closed = true;
          break;
        }
        if (d === 92 && i + 1 < n) {
          value += sql.slice(runStart, i) + unescapeChar(sql.charCodeAt(i + 1));
          i += 2;
          runStart = i;
          continue;
        }
        i++;
      }
      if (!closed) {
        i = n;
        break;
      }
      b.emitLiteral(start, i, 'str', value);
      continue;
    }
    // quoted identifiers: "x" (non-mysql), `x`, [x] not handled (kept verbatim as punctuation)
    if (c === 34 || c === 96) {
      const q = c;
      i++;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (d === q) {
          if (sql.charCodeAt(i + 1) === q) {
            i += 2;
            continue;
          }
          i++;
          break;
        }
        i++;
      }
      b.prev = Prev.Operand;
      continue;
    }
    // postgres dollar-quoted strings $tag$...$tag$ and parameters $1
    if (c === 36 /* $ */) {
      if (isDigit(sql.charCodeAt(i + 1))) {
        i++;
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
        b.prev = Prev.Operand;
        continue;
      }
      if (dialect === 'postgres' || dialect === 'generic') {
        let j = i + 1;
        while (j < n && isWord(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++;
        if (sql.charCodeAt(j) === 36) {
          const tag = sql.slice(i, j + 1);
          const close = sql.indexOf(tag, j + 1);
          if (close >= 0) {
            b.emitLiteral(i, close + tag.length, 'str', sql.slice(j + 1, close));
            i = close + tag.length;
            continue;
          }
        }
      }
      i++;
      continue;
    }
    // numbers, with a folded unary sign when an operand is expected
    if (b.prev === Prev.Word && (c === 45 || c === 43)) {
      // resolve the previous word only now: is it a keyword after which an operand is expected?
      b.prev = OPERAND_EXPECTING.has(sql.slice(wordStart, wordEnd).toLowerCase()) ? Prev.Operator : Prev.Operand;
    }
    const signed =
      (c === 45 || c === 43) &&
      b.prev !== Prev.Operand &&
      b.prev !== Prev.Word &&
      (isDigit(sql.charCodeAt(i + 1)) || (sql.charCodeAt(i + 1) === 46 && isDigit(sql.charCodeAt(i + 2))));
    if (signed || isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)) && b.prev !== Prev.Operand && b.prev !== Prev.Word)) {
      const start = i;
      if (signed) i++;
      if (sql.charCodeAt(i) === 48 && (sql.charCodeAt(i + 1) === 120 || sql.charCodeAt(i + 1) === 88)) {
        i += 2;
        while (i < n && /[0-9a-fA-F_]/.test(sql[i]!)) i++;
      } else {
        while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95)) i++;
        if (sql.charCodeAt(i) === 46) {
          i++;
          while (i < n && isDigit(sql.charCodeAt(i))) i++;
        }
        const e = sql.charCodeAt(i);
        if (e === 101 || e === 69) {
          const s = sql.charCodeAt(i + 1);
          const k = s === 43 || s === 45 ? i + 2 : i + 1;
          if (isDigit(sql.charCodeAt(k))) {
            i = k;
            while (i < n && isDigit(sql.charCodeAt(i))) i++;
          }
        }
      }
      if (i < n && isWordStart(sql.charCodeAt(i))) {
        // something like 1abc: not a plain literal; keep verbatim as a word
        while (i < n && isWord(sql.charCodeAt(i))) i++;
        b.prev = Prev.Operand;
        continue;
      }
      let text = sql.slice(start, i);
      if (text.charCodeAt(0) === 43) text = text.slice(1);
      b.emitLiteral(start, i, 'num', text.includes('_') ? text.replace(/_/g, '') : text);
      continue;
    }
    // words
    if (isWordStart(c)) {
      wordStart = i;
      while (i < n && isWord(sql.charCodeAt(i))) i++;
      wordEnd = i;
      b.prev = Prev.Word;
      continue;
    }
    // punctuation / operators
    b.prev = c === 41 /* ) */ || c === 93 /* ] */ ? Prev.Operand : Prev.Operator;
    i++;
  }
  b.flush(n);
  return b.result();
}

const builder = new KeyBuilder();

function unescapeChar(c: number): string {
  switch (c) {
    case 110:
      return '\n';
    case 116:
      return '\t';
    case 114:
      return '\r';
    case 48:
      return '\0';
    case 98:
      return '\b';
    default:
      return String.fromCharCode(c);
  }
}
