/**
 * The cache of compiled templates the featurizer keeps per pipeline: a statement is parsed only
 * the first time its scanner key is seen.
 */
import type { Dialect } from '../../../schemas/types.js';
import type { CompiledTemplate } from './ir.js';

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  size: number;
  volatileHits: number;
}

/**
 * Bounded cache of compiled templates, keyed by dialect and scanner key, with CLOCK (second
 * chance) eviction — an LRU approximation whose hits cost one flag write instead of a Map
 * re-insertion. The map keeps insertion order; eviction takes the oldest entry, and re-queues
 * it once if it was used since it was last looked at.
 */
export class TemplateCache {
  private readonly maps = new Map<Dialect, Map<string, { v: CompiledTemplate; used: boolean }>>();
  private _size = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0, evictions: 0, size: 0, volatileHits: 0 };

  constructor(readonly maxEntries = 10_000) {}

  get(dialect: Dialect, key: string): CompiledTemplate | undefined {
    const e = this.maps.get(dialect)?.get(key);
    if (e === undefined) return undefined;
    e.used = true;
    return e.v;
  }

  set(dialect: Dialect, key: string, value: CompiledTemplate): void {
    let m = this.maps.get(dialect);
    if (!m) {
      m = new Map();
      this.maps.set(dialect, m);
    }
    if (!m.has(key)) this._size++;
    m.set(key, { v: value, used: false });
    let guard = this._size * 2 + 4;
    while (this._size > this.maxEntries && guard-- > 0) {
      let big: Map<string, { v: CompiledTemplate; used: boolean }> | undefined;
      for (const x of this.maps.values()) if (!big || x.size > big.size) big = x;
      const first = big?.entries().next();
      if (!big || !first || first.done) break;
      const [k, e] = first.value;
      big.delete(k);
      if (e.used && k !== key) {
        e.used = false;
        big.set(k, e); // second chance
      } else {
        this._size--;
        this.stats.evictions++;
      }
    }
    this.stats.size = this._size;
  }

  get size(): number {
    return this._size;
  }
}
