/**
 * The `shardcast` command line: parses arguments (commander), builds the config and hands off
 * to the command's module, loaded lazily so `--help` and small commands start fast.
 * Exit codes: 0 ok, 1 failure, 2 bad usage or bad input (one-line reason on stderr).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { exitCodeFor, UsageError } from '../lib/errors.js';
import { describeQueries } from '../analytics/queries.js';

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const sinceTime = (v: string) => {
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('--since must be epoch milliseconds or an ISO date');
  return n;
};

function json(opt = 'print the result as JSON on stdout') {
  return new Option('--json', opt);
}

export function buildProgram(): Command {
  const program = new Command('shardcast')
    .description('Workload-adaptive partitioning: telemetry → featurize → forecast → decide → execute, on Kafka.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });

  const stack = program.command('stack').description('the local stack of real servers (Kafka, schema registry, ClickHouse, Neo4j, PostgreSQL nodes)');
  stack
    .command('up')
    .description('install what is missing and start every service not given by env; idempotent')
    .action(async () => (await import('./commands/stack.js')).stackCommand('up'));
  stack
    .command('down')
    .description('stop the services this stack started (by pid)')
    .action(async () => (await import('./commands/stack.js')).stackCommand('down'));
  stack
    .command('status')
    .description('one line per service: up, down, stale or external')
    .action(async () => (await import('./commands/stack.js')).stackCommand('status'));

  program
    .command('demo')
    .description('the main job end to end on the local stack, with a report at the end')
    .option('--duration <seconds>', 'how long the workload runs', positiveInt('--duration'), 120)
    .addOption(json('print the final report as JSON on stdout'))
    .action(async (o) => { await (await import('../pipelines/demo.js')).runDemo(o); });

  program
    .command('publish')
    .description('publish JSON Lines telemetry (QueryEvent or MetricSample field names) to Kafka')
    .argument('<kind>', 'queries | metrics')
    .option('--file <path>', 'read JSON Lines from a file instead of stdin')
    .addOption(json('print the send report as JSON'))
    .action(async (kind, o) => (await import('./commands/publish.js')).publishCommand(kind, o));

  program
    .command('run')
    .description('run a long-running pipeline until SIGINT/SIGTERM (graceful drain)')
    .argument('<pipeline>', 'ingest | forecast | decide | execute | sink | all')
    .option('--group <id>', 'consumer group id prefix', 'shardcast')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://127.0.0.1:<port>/metrics (default SHARDCAST_METRICS_PORT or 9464; 0 = any free port)')
    .option('--no-metrics', 'do not serve metrics')
    .action(async (name, o) => (await import('../pipelines/run.js')).runPipelineCommand(name, o));

  program
    .command('forecast-eval')
    .description('rolling-origin evaluation of the forecaster on a CSV ts,series,value')
    .requiredOption('--input <csv>', 'input CSV with header ts,series,value')
    .requiredOption('--horizon <steps>', 'forecast horizon in steps', positiveInt('--horizon'))
    .option('--season <steps>', 'season length in steps (detected when omitted)', positiveInt('--season'))
    .requiredOption('--out <csv>', 'where to write ts,series,horizon,actual,predicted,lower,upper')
    .addOption(json('print the summary as JSON'))
    .action(async (o) => (await import('./commands/evaluate.js')).forecastEvalCommand(o));

  program
    .command('policy-eval')
    .description('cluster simulator on a trace: static, reactive, predictive and oracle policies')
    .requiredOption('--trace <csv>', 'trace CSV ts,table,key,reads,writes (or ts,series,value)')
    .option('--nodes <n>', 'number of nodes at the start', positiveInt('--nodes'))
    .addOption(json('print the comparison as JSON'))
    .action(async (o) => (await import('./commands/evaluate.js')).policyEvalCommand(o));

  program
    .command('bench')
    .description('benchmarks; each prints what it measured next to a baseline from the same run')
    .argument('<name>', 'ingest | forecast | policy | sink')
    .addOption(json('print the measurements as JSON'))
    .action(async (name, o) => (await import('./commands/bench.js')).benchCommand(name, o));

  program
    .command('analytics')
    .description('canned ClickHouse analytics (run with --help for the list)')
    .argument('[query-name]', 'name of the query; omit to list them')
    .addOption(json('print rows as JSON'))
    .option('--limit <n>', 'rows at most', positiveInt('--limit'), 20)
    .option('--since <time>', 'only rows from this time on: epoch milliseconds or an ISO date (the demo report prints its own)', sinceTime)
    .addHelpText('after', `\nQueries:\n${describeQueries()}`)
    .action(async (name, o) => (await import('./commands/analytics.js')).analyticsCommand(name, o));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      return 2; // commander already printed the one-line reason
    }
    const { code, message } = exitCodeFor(err);
    process.stderr.write(`shardcast: ${message}\n`);
    if (code === 1 && process.env.SHARDCAST_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return code;
  }
}

export { UsageError };
