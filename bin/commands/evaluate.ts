/** `shardcast forecast-eval` and `shardcast policy-eval`. Bad input files exit 2. */
import { existsSync } from 'node:fs';
import { InputError, UsageError } from '../../lib/errors.js';
import { printTable } from '../../lib/table.js';

export async function forecastEvalCommand(o: {
  input: string;
  horizon: number;
  season?: number;
  out: string;
  json?: boolean;
}): Promise<void> {
  if (!existsSync(o.input)) throw new UsageError(`--input ${o.input}: no such file`);
  const { runForecastEval, ForecastInputError } = await import('../../bench/forecastEval.js');
  try {
    const summary = await runForecastEval({ input: o.input, horizon: o.horizon, season: o.season, out: o.out });
    if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      const seasons = [...new Set(Object.values(summary.seasons))].join(', ') || 'none';
      process.stdout.write(
        `${summary.series} series, ${summary.origins} origins, horizon ${summary.horizon}, season ${seasons}, ${summary.level * 100}% intervals, ${summary.rowsRead} rows read, ${summary.predictionsWritten} predictions in ${summary.out}, ${summary.seconds.toFixed(1)} s\n`,
      );
      printTable(Object.entries(summary.models).map(([model, m]) => ({ model, ...m })));
    }
  } catch (err) {
    if (err instanceof ForecastInputError) throw new UsageError(err.message);
    throw err;
  }
}

export async function policyEvalCommand(o: { trace: string; nodes?: number; capacity?: number; json?: boolean }): Promise<void> {
  if (!existsSync(o.trace)) throw new UsageError(`--trace ${o.trace}: no such file`);
  const { runPolicyEval } = await import('../../bench/policyEval.js');
  let out: Awaited<ReturnType<typeof runPolicyEval>>;
  try {
    out = await runPolicyEval({ trace: o.trace, nodes: o.nodes, capacity: o.capacity, json: o.json });
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`--trace ${o.trace}: ${err.message}`, { cause: err });
    throw err;
  }
  process.stdout.write(o.json ? `${JSON.stringify(out.result, null, 2)}\n` : `${out.text}\n`);
}
