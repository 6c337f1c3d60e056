/** `shardcast analytics <query-name> [--json]`: runs a canned ClickHouse query through the operations layer (as the API does). */
import { openOperations } from '../../console/ops/operations.js';
import { describeQueries } from '../../analytics/queries.js';
import { loadConfig } from '../../lib/config.js';
import { printTable } from '../../lib/table.js';

export async function analyticsCommand(
  name: string | undefined,
  opts: { json?: boolean; limit: number; since?: number; until?: number },
): Promise<void> {
  if (!name) {
    process.stdout.write(`queries:\n${describeQueries()}\n`);
    return;
  }
  const ops = openOperations(loadConfig());
  try {
    // Unknown names and out-of-range parameters are usage errors (exit 2) from the same checks the API answers 400/404 with.
    const answer = await ops.analytics().run(name, { limit: opts.limit, since: opts.since, until: opts.until });
    if (opts.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    else printTable(answer.rows);
  } finally {
    await ops.close();
  }
}
