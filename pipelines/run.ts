/**
 * `shardcast run <pipeline>`: starts one pipeline (or all) in this process and keeps it running
 * until SIGINT/SIGTERM, then drains: stops fetching, finishes what is in hand, commits, exits.
 */
import { UsageError } from '../lib/errors.js';
import { openContext } from './context.js';
import type { RunningStage } from './stage.js';

export const PIPELINES = ['ingest', 'forecast', 'decide', 'execute', 'sink'] as const;
export type PipelineName = (typeof PIPELINES)[number];

export async function startPipeline(name: PipelineName, ctx: Awaited<ReturnType<typeof openContext>>, group: string): Promise<RunningStage> {
  switch (name) {
    case 'ingest':
      return (await import('./ingest.js')).startIngest(ctx, { groupId: `${group}-ingest` });
    case 'forecast':
      return (await import('./forecast.js')).startForecast(ctx, { groupId: `${group}-forecast` });
    case 'decide':
      return (await import('./decide.js')).startDecide(ctx, { groupId: `${group}-decide` });
    case 'execute':
      return (await import('./execute.js')).startExecute(ctx, { groupId: `${group}-execute` });
    case 'sink':
      return (await import('./sink.js')).startSink(ctx, { groupId: `${group}-sink` });
  }
}

export async function runPipelineCommand(name: string, opts: { group: string }): Promise<void> {
  const names: PipelineName[] =
    name === 'all' ? [...PIPELINES] : PIPELINES.includes(name as PipelineName) ? [name as PipelineName] : [];
  if (names.length === 0) throw new UsageError(`unknown pipeline ${JSON.stringify(name)}; expected one of ${PIPELINES.join(', ')}, all`);
  const ctx = await openContext(name);
  const stages: RunningStage[] = [];
  for (const n of names) {
    stages.push(await startPipeline(n, ctx, opts.group));
    ctx.log.info({ pipeline: n }, 'started');
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // A stage that ends by itself (error) ends the process too.
    for (const s of stages) s.done.catch((err) => { ctx.log.error({ err }, 'pipeline failed'); process.exitCode = 1; resolve(); });
  });
  ctx.log.info('draining');
  for (const s of stages.reverse()) await s.stop();
  await ctx.close();
}
