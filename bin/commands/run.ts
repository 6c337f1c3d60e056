/**
 * `shardcast run <pipeline>`: the pipelines (pipelines/run.ts); `run all` also starts the console
 * (web UI and API, as `shardcast serve`) and prints its URL, unless `--no-serve`.
 */
import { startConsole } from '../../console/http/console.js';
import { runPipelineCommand } from '../../pipelines/run.js';

export async function runCommand(
  name: string,
  o: { group: string; metricsPort?: string; metrics?: boolean; serve?: boolean },
): Promise<void> {
  const serve = name === 'all' && o.serve !== false;
  await runPipelineCommand(
    name,
    o,
    serve
      ? async (ctx, { metricsUrl }) => {
          // The console reads the stages' state from the metrics this process serves, on whatever port they got.
          const cfg = metricsUrl ? { ...ctx.cfg, metricsPort: Number(new URL(metricsUrl).port) } : ctx.cfg;
          const c = await startConsole(cfg, ctx.log, {}, { proposals: { scope: o.group } });
          process.stdout.write(`shardcast console at ${c.url}/\n`);
          return c;
        }
      : undefined,
  );
}
