/** The PostgreSQL executor as the rekey tests drive it: the adapter, the ledger, and engines that collect results. */
import type { CommandResult } from '../../schemas/types.js';
import { type PostgresAdapterOptions, PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { CommandLedger } from '../../executors/ledger.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { cfg } from './helpers.js';

export class PgExecutorHarness {
  adapter!: PostgresShardAdapter;
  ledger!: CommandLedger;
  readonly results: CommandResult[] = [];

  constructor(
    private readonly name: string,
    private readonly table: string,
  ) {}

  async open(opts: PostgresAdapterOptions = {}): Promise<this> {
    this.adapter = await PostgresShardAdapter.open(cfg, opts);
    this.ledger = await CommandLedger.open(cfg.pgNodes[0]!);
    return this;
  }

  /** An engine over the adapter at `bytesPerSecond`, approvals ignored, results collected. */
  engine(bytesPerSecond: number): ExecutorEngine {
    return new ExecutorEngine({
      executorName: this.name,
      adapters: [this.adapter],
      ledger: this.ledger,
      emit: async (r) => void this.results.push(r),
      bytesPerSecond,
      approvals: 'ignore',
    });
  }

  /** Closes the adapter and ledger and drops the test's table. */
  async close(): Promise<void> {
    await this.adapter?.close();
    await this.ledger?.close();
    await dropShardedTable(cfg, this.table).catch(() => {});
  }
}
