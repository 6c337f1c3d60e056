/**
 * The demo's ClickHouse workload: an orders application's reports on the warehouse table, sent
 * over plain HTTP as any client would (its own user agent), so the ClickHouse collector reads
 * them from the server's query log as telemetry of source `clickhouse`.
 */
import type { Config } from '../lib/config.js';

const USER_AGENT = 'demo-warehouse/1.0';

/**
 * The report of the i-th query: a customer's monthly sums, the orders of a month (half of all
 * reports: they filter the date by range), and the top customers by amount.
 */
function report(table: string, i: number): string {
  const month = 1 + (i % 3);
  switch (i % 4) {
    case 0:
      return `SELECT toYYYYMM(created) AS m, sum(amount) FROM ${table} WHERE customer_id = ${i % 97} GROUP BY m ORDER BY m`;
    case 2:
      return `SELECT customer_id, sum(amount) AS total FROM ${table} GROUP BY customer_id ORDER BY total DESC LIMIT 10`;
    default:
      return `SELECT count() FROM ${table} WHERE created >= toDate('2024-0${month}-01') AND created < toDate('2024-0${month + 1}-01')`;
  }
}

/** Runs about `perSecond` reports for `seconds` (bounded); returns how many succeeded. */
export async function runWarehouseQueries(
  cfg: Pick<Config, 'clickhouseUrl'>,
  table: string,
  perSecond: number,
  seconds: number,
): Promise<number> {
  const gapMs = 1000 / Math.max(0.2, perSecond);
  const until = Date.now() + seconds * 1000;
  let ok = 0;
  for (let i = 0; Date.now() < until; i++) {
    const t0 = Date.now();
    const res = await fetch(cfg.clickhouseUrl, { method: 'POST', body: report(table, i), headers: { 'user-agent': USER_AGENT } }).catch(
      () => null,
    );
    if (res?.ok) ok++;
    await res?.text();
    await new Promise((r) => setTimeout(r, Math.max(0, gapMs - (Date.now() - t0))));
  }
  return ok;
}
