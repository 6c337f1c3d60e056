/**
 * The scanner's output and the template key it builds as it goes (scanner.ts): verbatim SQL
 * segments copied lazily, every literal replaced by `?` and kept with its position and value.
 */
export interface ScannedLiteral {
  /** Char offset where the literal starts (including a folded unary sign). */
  start: number;
  /** Char offset one past its end. */
  end: number;
  kind: 'num' | 'str';
  /** Decoded value: numbers as written (sign included), strings unquoted and unescaped. */
  value: string;
}

export interface ScanResult {
  key: string;
  literals: ScannedLiteral[];
}

/** Previous significant token kind, to decide whether a '-' or '+' is a unary sign. */
export enum Prev {
  Start,
  Operand, // identifier, literal, ')' , ']'
  Operator, // operator, '(', ',', keyword-ish word
  Word, // a word not yet classified (see wordStart/wordEnd)
}

/**
 * The template key under construction: verbatim segments of the SQL copied lazily, literals
 * replaced by `?`. A class rather than closures inside scanSql: closures would be made (and,
 * under the TypeScript loader, named) on every call of this hot path. One builder serves every
 * call (scanSql is synchronous and not re-entered), and its literal list is copied out at its
 * exact length: a fresh list grown by push reserves room for 16.
 */
export class KeyBuilder {
  key = '';
  /** Start of the pending verbatim segment to copy into key. */
  segStart = 0;
  pendingSpace = false;
  prev: Prev = Prev.Start;
  /** The literals found so far: the first `found` entries (the list keeps its room between scans). */
  private readonly literals: ScannedLiteral[] = [];
  private found = 0;
  private sql = '';

  reset(sql: string): this {
    this.sql = sql;
    this.key = '';
    this.segStart = 0;
    this.pendingSpace = false;
    this.prev = Prev.Start;
    this.found = 0;
    return this;
  }

  /** The finished scan; the builder lets go of the statement. */
  result(): ScanResult {
    let key = this.key;
    if (key.length > 0 && key.charCodeAt(key.length - 1) === 32) key = key.trimEnd();
    const literals = this.literals.slice(0, this.found);
    this.literals.fill(NONE, 0, this.found);
    this.sql = '';
    this.key = '';
    return { key, literals };
  }

  flush(to: number): void {
    if (to > this.segStart) {
      let seg = this.sql.slice(this.segStart, to);
      const key = this.key;
      const endsSpace = key.length > 0 && key.charCodeAt(key.length - 1) === 32;
      if (seg.charCodeAt(0) === 32 && (endsSpace || key.length === 0 || this.pendingSpace)) {
        seg = seg.slice(1);
        if (this.pendingSpace && !endsSpace && key.length > 0) this.key += ' ';
      } else if (this.pendingSpace && key.length > 0 && !endsSpace) this.key += ' ';
      this.key += seg;
      this.pendingSpace = false;
    }
  }

  emitLiteral(start: number, end: number, kind: 'num' | 'str', value: string): void {
    this.flush(start);
    if (this.pendingSpace && this.key.length > 0 && this.key.charCodeAt(this.key.length - 1) !== 32) this.key += ' ';
    this.pendingSpace = false;
    this.key += '?';
    const lit: ScannedLiteral = { start, end, kind, value };
    if (this.found < this.literals.length) this.literals[this.found] = lit;
    else this.literals.push(lit);
    this.found++;
    this.segStart = end;
    this.prev = Prev.Operand;
  }
}

/** What the builder's literal list holds past `found` once a scan is done (it keeps no statement's values). */
const NONE: ScannedLiteral = { start: 0, end: 0, kind: 'num', value: '' };
