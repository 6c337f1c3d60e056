/**
 * `shardcast publish queries|metrics [--file F.jsonl]`: validates each JSON line and publishes
 * the valid ones; reports how many were sent and rejected, with the reasons. Any rejected line
 * makes the exit code 2 (bad input), after the valid lines were sent.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { loadConfig } from '../../lib/config.js';
import { UsageError } from '../../lib/errors.js';
import { validateMetricSampleJson, validateQueryEventJson } from '../../processors/ingest/validate.js';
import { TelemetryPublisher } from '../../topics/sdk.js';

export interface PublishReport {
  kind: string;
  sent: number;
  rejected: number;
  reasons: Record<string, number>;
  firstRejectedLines: { line: number; reason: string }[];
}

export async function publishCommand(kind: string, o: { file?: string; json?: boolean }): Promise<void> {
  if (kind !== 'queries' && kind !== 'metrics') throw new UsageError(`publish: expected queries or metrics, got ${JSON.stringify(kind)}`);
  if (o.file)
    await access(o.file).catch(() => {
      throw new UsageError(`--file ${o.file}: cannot be read`);
    });
  const cfg = loadConfig();
  const publisher = await TelemetryPublisher.connect(cfg);
  const report: PublishReport = { kind, sent: 0, rejected: 0, reasons: {}, firstRejectedLines: [] };
  const reject = (line: number, reason: string) => {
    report.rejected++;
    report.reasons[reason] = (report.reasons[reason] ?? 0) + 1;
    if (report.firstRejectedLines.length < 10) report.firstRejectedLines.push({ line, reason });
  };
  const rl = createInterface({ input: o.file ? createReadStream(o.file) : process.stdin, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const text of rl) {
      n++;
      if (text.trim() === '') continue;
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch {
        reject(n, 'not valid JSON');
        continue;
      }
      if (kind === 'queries') {
        const v = validateQueryEventJson(obj);
        if (v.ok) await publisher.publishQuery(v.value);
        else reject(n, v.reason);
      } else {
        const v = validateMetricSampleJson(obj);
        if (v.ok) await publisher.publishMetric(v.value);
        else reject(n, v.reason);
      }
    }
    await publisher.flush();
    report.sent = publisher.sent;
  } finally {
    await publisher.close();
  }
  process.stdout.write(
    o.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : `sent ${report.sent}, rejected ${report.rejected}${
          report.rejected
            ? `: ${Object.entries(report.reasons)
                .map(([r, c]) => `${c}× ${r}`)
                .join('; ')}`
            : ''
        }\n`,
  );
  if (report.rejected > 0) process.exitCode = 2;
}
