/**
 * ClickHouse access for the executor: catalog reads from system.tables / system.columns /
 * system.parts / system.processes, and statements. Every name is a checked identifier,
 * quoted; every literal a checked token (ClickHouse 18.16 has no query parameters over HTTP).
 */
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { quoteToken } from '../../stores/identifiers.js';
import type { TableMeta } from './checks.js';

export interface Part {
  name: string;
  partitionId: string;
  rows: number;
  bytes: number;
  minBlock: number;
  maxBlock: number;
}

export interface Features {
  version: string;
  /** Query settings this server knows; unknown settings are errors on 18.16. */
  settings: Set<string>;
  partsToDelayInsert: number;
}

export class ChStore {
  private features: Features | null = null;

  constructor(readonly ch: ClickHouseClient) {}

  async rows<T = Record<string, unknown>>(query: string, queryId?: string): Promise<T[]> {
    const rs = await this.ch.query({ query, format: 'JSONEachRow', query_id: queryId });
    return (await rs.json()) as T[];
  }

  async exec(query: string, settings: Record<string, number> = {}): Promise<void> {
    await this.ch.command({ query, clickhouse_settings: settings as never });
  }

  async feature(): Promise<Features> {
    if (!this.features) {
      const [v] = await this.rows<{ v: string }>('SELECT version() AS v');
      const names = await this.rows<{ name: string }>(
        `SELECT name FROM system.settings WHERE name IN (${['max_partitions_per_insert_block', 'optimize_on_insert'].map(quoteToken).join(', ')})`,
      );
      const [d] = await this.rows<{ value: string }>(`SELECT value FROM system.merge_tree_settings WHERE name = 'parts_to_delay_insert'`);
      this.features = { version: v?.v ?? '?', settings: new Set(names.map((n) => n.name)), partsToDelayInsert: Number(d?.value ?? 150) };
    }
    return this.features;
  }

  /** Settings for INSERT … SELECT copies: no per-block partition cap trip, no merge-on-insert. */
  async copySettings(maxPartitions: number): Promise<Record<string, number>> {
    const f = await this.feature();
    const s: Record<string, number> = {};
    if (f.settings.has('max_partitions_per_insert_block')) s.max_partitions_per_insert_block = maxPartitions + 1;
    // Replacing/Summing/Collapsing tables would otherwise collapse rows while inserting, and
    // the copy's row count would no longer match the source's.
    if (f.settings.has('optimize_on_insert')) s.optimize_on_insert = 0;
    return s;
  }

  async databaseExists(db: string): Promise<boolean> {
    return (await this.rows(`SELECT name FROM system.databases WHERE name = ${quoteToken(db)}`)).length > 0;
  }

  /** The engine of `db.name`, or null when no such table or view exists. */
  async engineOf(db: string, name: string): Promise<string | null> {
    const r = await this.rows<{ engine: string }>(
      `SELECT engine FROM system.tables WHERE database = ${quoteToken(db)} AND name = ${quoteToken(name)}`,
    );
    return r[0]?.engine ?? null;
  }

  async tableMeta(db: string, name: string): Promise<(TableMeta & { dependencies: string[] }) | null> {
    const r = await this.rows<{ engine: string; ef: string; pk: string; sk: string; prk: string; smk: string; deps: string[] }>(
      `SELECT engine, engine_full AS ef, partition_key AS pk, sorting_key AS sk, primary_key AS prk, sampling_key AS smk, dependencies_table AS deps
       FROM system.tables WHERE database = ${quoteToken(db)} AND name = ${quoteToken(name)}`,
    );
    const t = r[0];
    if (!t) return null;
    return {
      engine: t.engine,
      engineFull: t.ef,
      partitionKey: t.pk,
      sortingKey: t.sk,
      primaryKey: t.prk,
      samplingKey: t.smk,
      dependencies: t.deps,
    };
  }

  /** Column → type of the columns stored in the table (ordinary and DEFAULT), in table order. */
  async columns(db: string, name: string): Promise<{ stored: Map<string, string>; all: Map<string, string> }> {
    const r = await this.rows<{ name: string; type: string; kind: string }>(
      `SELECT name, type, default_kind AS kind FROM system.columns WHERE database = ${quoteToken(db)} AND table = ${quoteToken(name)}`,
    );
    const stored = new Map<string, string>();
    const all = new Map<string, string>();
    for (const c of r) {
      all.set(c.name, c.type);
      if (c.kind === '' || c.kind === 'DEFAULT') stored.set(c.name, c.type);
    }
    return { stored, all };
  }

  async parts(db: string, name: string): Promise<Part[]> {
    const r = await this.rows<{ name: string; pid: string; r: string; b: string; lo: string; hi: string }>(
      `SELECT name, partition_id AS pid, rows AS r, data_uncompressed_bytes AS b, min_block_number AS lo, max_block_number AS hi
       FROM system.parts WHERE database = ${quoteToken(db)} AND table = ${quoteToken(name)} AND active ORDER BY partition_id, min_block_number`,
    );
    return r.map((p) => ({
      name: p.name,
      partitionId: p.pid,
      rows: Number(p.r),
      bytes: Number(p.b),
      minBlock: Number(p.lo),
      maxBlock: Number(p.hi),
    }));
  }

  async unfinishedMutations(db: string, name: string): Promise<number> {
    const [r] = await this.rows<{ n: string }>(
      `SELECT count() AS n FROM system.mutations WHERE database = ${quoteToken(db)} AND table = ${quoteToken(name)} AND is_done = 0`,
    );
    return Number(r?.n ?? 0);
  }

  /**
   * INSERT queries that name `name` and have run for at least `minElapsedS` seconds. The query
   * text is matched, so this over-counts (another table whose name contains `name`), which
   * only makes a caller wait longer; our own probe is excluded by its query id.
   */
  async insertsRunning(name: string, minElapsedS: number): Promise<number> {
    const id = randomUUID();
    const [r] = await this.rows<{ n: string }>(`SELECT ${insertsRunningSql(name, minElapsedS, id)} AS n`, id);
    return Number(r?.n ?? 0);
  }

  /**
   * In one round trip: INSERTs naming `name` running now, then the names of its active parts.
   * The scalar subquery is evaluated before the main query reads system.parts, so an INSERT
   * that is no longer running has its part in the list.
   */
  async insertsThenParts(db: string, name: string): Promise<{ running: number; parts: string[] }> {
    const id = randomUUID();
    const [r] = await this.rows<{ n: string; p: string[] }>(
      `SELECT ${insertsRunningSql(name, 0, id)} AS n, groupArray(name) AS p FROM
       (SELECT name FROM system.parts WHERE database = ${quoteToken(db)} AND table = ${quoteToken(name)} AND active ORDER BY partition_id, min_block_number)`,
      id,
    );
    return { running: Number(r?.n ?? 0), parts: r?.p ?? [] };
  }
}

function insertsRunningSql(name: string, minElapsedS: number, ownId: string): string {
  return `(SELECT count() FROM system.processes WHERE query_id != ${quoteToken(ownId)}
    AND positionCaseInsensitive(query, 'insert') > 0 AND position(query, ${quoteToken(name)}) > 0 AND elapsed >= ${Math.max(0, minElapsedS).toFixed(3)})`;
}
