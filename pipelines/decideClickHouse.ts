/**
 * The decide stage's ClickHouse part: each round with a fresh template profile from the
 * ClickHouse source, the tables its templates name are read from the server (system.tables:
 * partition key, rows; system.columns: types; the precomputations that exist) and planned by
 * processors/decide/clickhouse/design.ts. Commands that do not fit the command contract are not
 * issued: they come back as misfits for the stage to log and count.
 */
import { fitToContract } from '../schemas/commandParams.js';
import {
  type ChPlanConfig,
  type ChTableState,
  chTableName,
  DEFAULT_CH_PLAN,
  planClickHouseDesign,
  planTarget,
} from '../processors/decide/clickhouse/design.js';
import type { PlannedTemplate } from '../processors/decide/workloadProfile.js';
import { type ClickHouseClient, createClickHouse } from '../stores/clickhouse/client.js';
import { isPlainIdentifier, quoteToken } from '../stores/identifiers.js';
import type { PipelineContext } from './context.js';
import type { KafkaRound } from './decideKafka.js';
import { CLICKHOUSE_SOURCE } from './collectClickHouse.js';

export type ClickHousePlanOptions = Partial<Omit<ChPlanConfig, 'windowMs' | 'manual'>> & { source?: string; database?: string };

/** A round's commands, explanations and misfits, as the Kafka part's. */
export type ClickHouseRound = KafkaRound;

/** The executor's precomputation tables are `<table>__pc_<name>` (executors/clickhouse/checks.ts). */
const PRECOMPUTED = /^(.+)__pc_([a-z0-9_]+)$/;

export class ClickHousePlanning {
  private client: ClickHouseClient | null = null;
  /** When each target was last given a command by this stage (its cooldown). */
  private readonly recent = new Map<string, number>();
  readonly source: string;
  private readonly database: string;

  constructor(
    private readonly ctx: PipelineContext,
    private readonly opts: ClickHousePlanOptions = {},
  ) {
    this.source = opts.source ?? CLICKHOUSE_SOURCE;
    this.database = opts.database ?? ctx.cfg.clickhouseDatabase;
  }

  private ch(): ClickHouseClient {
    this.client ??= createClickHouse(this.ctx.cfg);
    return this.client;
  }

  private async rows<T>(query: string): Promise<T[]> {
    const rs = await this.ch().query({ query, format: 'JSONEachRow' });
    return rs.json<T>();
  }

  /** The named tables of the database that exist, with their columns and precomputations. */
  async tables(named: string[]): Promise<ChTableState[]> {
    const names = named.filter(isPlainIdentifier);
    if (names.length === 0) return [];
    const db = this.database;
    // names are checked as plain identifiers and quoted (the server may predate query parameters)
    const list = (xs: string[]) => xs.map(quoteToken).join(', ');
    const tables = await this.rows<{ name: string; partition_key: string }>(
      `SELECT name, partition_key FROM system.tables
       WHERE database = ${quoteToken(db)} AND name IN (${list(names)}) AND engine LIKE '%MergeTree'`,
    );
    if (tables.length === 0) return [];
    const found = list(tables.map((t) => t.name));
    const columns = await this.rows<{ table: string; name: string; type: string }>(
      `SELECT table, name, type FROM system.columns WHERE database = ${quoteToken(db)} AND table IN (${found})`,
    );
    // system.parts, not system.tables.total_rows: the server may predate that column
    const rows = await this.rows<{ table: string; rows: string }>(
      `SELECT table, sum(rows) AS rows FROM system.parts WHERE database = ${quoteToken(db)} AND active AND table IN (${found}) GROUP BY table`,
    );
    const all = await this.rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = ${quoteToken(db)} AND position(name, '__pc_') > 0`,
    );
    return tables.map((t) => ({
      database: db,
      table: t.name,
      partitionKey: t.partition_key,
      columns: new Map(columns.filter((c) => c.table === t.name).map((c) => [c.name, c.type])),
      rows: Number(rows.find((r) => r.table === t.name)?.rows ?? 0),
      precomputed: all.flatMap((x) => {
        const m = PRECOMPUTED.exec(x.name);
        return m && m[1] === t.name && !x.name.endsWith('_mv') ? [m[2]!] : [];
      }),
    }));
  }

  /** One round over the ClickHouse source's templates (newest window, raised to their forecast peaks). */
  async round(templates: readonly PlannedTemplate[], now: number, windowMs: number, manual: boolean): Promise<ClickHouseRound> {
    const names = [...new Set(templates.filter((t) => t.tables.length === 1).map((t) => chTableName(t.tables[0]!, this.database)))];
    if (names.length === 0) return { commands: [], explanations: [], misfits: [] };
    const cfg: ChPlanConfig = { ...DEFAULT_CH_PLAN, store: 'clickhouse', ...this.opts, windowMs, manual };
    const plan = planClickHouseDesign(templates, await this.tables(names), this.recent, now, cfg);
    const { fit: commands, misfits } = fitToContract(plan.commands);
    for (const c of commands) this.recent.set(planTarget(c), now);
    return { commands, explanations: plan.explanations, misfits };
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = null;
  }
}
