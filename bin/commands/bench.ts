/** `shardcast bench ingest|forecast|policy|sink`: each prints measured figures beside its baseline. */
import { UsageError } from '../../lib/errors.js';

const log = (json?: boolean) => (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

export async function benchCommand(name: string, o: { json?: boolean }): Promise<void> {
  switch (name) {
    case 'forecast': {
      const { runForecastBench } = await import('../../bench/forecastBench.js');
      const report = await runForecastBench({ json: o.json, log: log(o.json) });
      if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    case 'policy': {
      const { runPolicyBench } = await import('../../bench/policyBench.js');
      const { report, text } = runPolicyBench({ json: o.json, onProgress: (w) => process.stderr.write(`workload ${w}\n`) });
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${text}\n`);
      return;
    }
    case 'sink': {
      const { runSinkBench, formatSinkReport } = await import('../../bench/sink.js');
      const r = await runSinkBench({ log: log(o.json) });
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatSinkReport(r)}\n`);
      return;
    }
    case 'ingest': {
      const { runIngestBench } = await import('../../bench/ingest.js');
      const r = await runIngestBench({ log: log(o.json) });
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.text}\n`);
      return;
    }
    default:
      throw new UsageError(`unknown benchmark ${JSON.stringify(name)}; expected ingest, forecast, policy or sink`);
  }
}
