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

const positiveNumber = (name: string) => (v: string) => {
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

const timeArg = (flag: string) => (v: string) => {
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be epoch milliseconds or an ISO date`);
  return n;
};

function json(opt = 'print the result as JSON on stdout') {
  return new Option('--json', opt);
}

export function buildProgram(): Command {
  const program = new Command('shardcast')
    .description('Workload-adaptive partitioning: telemetry → featurize → forecast → decide → execute, on Kafka.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .addHelpText(
      'after',
      '\nSecured clusters (environment; secrets are never printed):\n' +
        '  KAFKA_SSL=on|off, KAFKA_SSL_CA=<CA PEM file>          TLS to the brokers (on when a CA is given)\n' +
        '  KAFKA_SASL_MECHANISM=scram-sha-256|scram-sha-512|plain, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD\n' +
        '  SCHEMA_REGISTRY_USER, SCHEMA_REGISTRY_PASSWORD          registry basic auth\n' +
        '  PG_SSL_MODE=disable|require|verify-full, PG_SSL_CA, PGPASSWORD   shard node TLS and password\n' +
        '  CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, NEO4J_USER, NEO4J_PASSWORD (https:// and neo4j+s:// URLs for TLS)',
    );

  const stack = program
    .command('stack')
    .description('the local stack of real servers (Kafka, schema registry, ClickHouse, Neo4j, PostgreSQL nodes)');
  stack
    .command('up')
    .description(
      'install what is missing and start every service not given by env, and the PostgreSQL nodes a scale_out added that the routing map still counts on; idempotent',
    )
    .action(async () => (await import('./commands/stack.js')).stackCommand('up'));
  stack
    .command('down')
    .description('stop the services this stack started (by pid), scale_out nodes included')
    .action(async () => (await import('./commands/stack.js')).stackCommand('down'));
  stack
    .command('status')
    .description('one line per service: up, down, stale or external')
    .action(async () => (await import('./commands/stack.js')).stackCommand('status'));

  program
    .command('demo')
    .description('the main job end to end on the local stack, with a report at the end')
    .option('--duration <seconds>', 'how long the workload runs, in each of the two runs', positiveInt('--duration'), 120)
    .option('--no-control', 'skip the control run (the same workload with execution off) and its comparison')
    .addOption(json('print the final report as JSON on stdout'))
    .action(async (o) => {
      await (await import('../demo/demo.js')).runDemo(o);
    });

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
    .argument('<pipeline>', 'ingest | forecast | decide | execute | sink | catalog | collect-clickhouse | collect-kafka | all')
    .option('--group <id>', 'consumer group id prefix', 'shardcast')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at http://127.0.0.1:<port>/metrics (default SHARDCAST_METRICS_PORT or 9464; 0 = any free port)',
    )
    .option('--no-metrics', 'do not serve metrics')
    .option('--no-serve', '`run all` only: do not start the console (web UI and API; see `shardcast serve`)')
    .addHelpText(
      'after',
      '\n`run all` also starts the console (as `shardcast serve`, port SHARDCAST_HTTP_PORT or 8787) and prints its URL.\n' +
        "\ncollect-clickhouse publishes the queries of ClickHouse's query log to shardcast.telemetry.queries; collect-kafka\n" +
        'publishes produce/consume rates and consumer lag of every topic to shardcast.telemetry.metrics, which forecast\n' +
        'forecasts and decide plans partition counts on. decide also plans ClickHouse precomputations and repartitions\n' +
        "from the query log's templates, and PostgreSQL composite indexes and precomputations from the workload's.\n" +
        '\ndecide signs every command (SHARDCAST_COMMAND_SIGNING_KEY); execute and catalog take only commands whose\n' +
        "signature verifies (SHARDCAST_COMMAND_VERIFY_KEYS); on the local stack all use the stack's own key pair.\n" +
        'On a cluster given by KAFKA_BROKERS they refuse to start without keys: `shardcast keys generate --out DIR`.\n' +
        'decide may run on several machines: one instance holds the lease (shardcast.leases) and plans, the others\n' +
        'stand by and take over within about the 10 s session timeout. execute may too: instances share the command\n' +
        "topics, and one store's commands run on one instance at a time (a lock per store in the ledger's database).\n" +
        'ingest and forecast scale out with SHARDCAST_INGEST_SCALE_OUT=on and SHARDCAST_FORECAST_SCALE_OUT=on (README).',
    )
    .action(async (name, o) => (await import('./commands/run.js')).runCommand(name, o));

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
    .description('cluster simulator on a trace: static, reactive, predictive and clairvoyant policies beside a lower bound')
    .requiredOption(
      '--trace <csv>',
      'trace CSV ts,table,key,reads,writes (or ts,series,value); ts in epoch milliseconds or ISO-8601, any regular step',
    )
    .option(
      '--nodes <n>',
      'nodes the reactive and predictive policies start with (default 4); capacity stays as set',
      positiveInt('--nodes'),
    )
    .option(
      '--capacity <q>',
      'queries per step one node serves (default: the mean load fills 4 nodes at 50%)',
      positiveNumber('--capacity'),
    )
    .addOption(json('print the comparison as JSON: rows[].policy is static, reactive, predictive, clairvoyant or bound'))
    .action(async (o) => (await import('./commands/evaluate.js')).policyEvalCommand(o));

  const fraction = (name: string) => (v: string) => {
    const n = Number(v);
    if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a number in [0, 1]`);
    return n;
  };
  program
    .command('trace')
    .description('make a workload trace ts,table,key,reads,writes from a real benchmark client (YCSB BasicDB output)')
    .argument('<source>', 'ycsb')
    .option('--out <csv>', 'where to write the trace')
    .option('--distribution <name>', 'YCSB requestdistribution: zipfian | hotspot | latest | uniform', 'zipfian')
    .option('--records <n>', 'YCSB recordcount', positiveInt('--records'), 100_000)
    .option('--read <p>', 'YCSB readproportion', fraction('--read'), 0.9)
    .option('--update <p>', 'YCSB updateproportion', fraction('--update'), 0.1)
    .option('--insert <p>', 'YCSB insertproportion', fraction('--insert'), 0)
    .option('--insert-order <order>', 'YCSB insertorder: ordered (keys are record numbers) | hashed', 'ordered')
    .option('--days <n>', 'length of the trace in days', positiveInt('--days'), 3)
    .option('--step-seconds <s>', 'trace step', positiveInt('--step-seconds'), 120)
    .option(
      '--peak-ops <n>',
      'YCSB operations per step at the daily peak (time comes from operation order)',
      positiveInt('--peak-ops'),
      1200,
    )
    .option('--op-weight <n>', 'queries each YCSB operation stands for in the trace', positiveInt('--op-weight'), 5)
    .option('--key-buckets <n>', 'keys are aggregated into this many equal-width buckets', positiveInt('--key-buckets'), 64)
    .option('--install', 'fetch the YCSB jars (site.ycsb:core, Maven) and stop unless --out is given')
    .addOption(json('print the summary as JSON'))
    .addHelpText(
      'after',
      '\nRuns site.ycsb.Client -t -db site.ycsb.BasicDB -p basicdb.verbose=true (jars from infra/ycsb/pom.xml)\nand deals its operations to steps in order at a business-day rate; see bench/ycsbTrace.ts.',
    )
    .action(async (source, o) =>
      (await import('./commands/trace.js')).traceCommand(source, {
        ...o,
        readProportion: o.read,
        updateProportion: o.update,
        insertProportion: o.insert,
        stepSeconds: o.stepSeconds,
        peakOps: o.peakOps,
        opWeight: o.opWeight,
        keyBuckets: o.keyBuckets,
        insertOrder: o.insertOrder,
      }),
    );

  program
    .command('bench')
    .description('benchmarks; each prints what it measured next to a baseline from the same run')
    .argument('<name>', 'ingest | forecast | policy | sink | faults')
    .addOption(json('print the measurements as JSON'))
    .option(
      '--only <faults>',
      'faults: comma-separated rows (broker, registry, clickhouse, freeze, neo4j, pg-node, pg-node-split, pg-node-replicate, pg-node-rekey, executor)',
    )
    .option(
      '--events <n>',
      "faults: events per ingest and sink row, rows of the PostgreSQL rows' table (default 30000)",
      positiveInt('--events'),
    )
    .option(
      '--outage <s>',
      'faults: seconds each outage lasts in the broker, registry, clickhouse and neo4j rows (default 15, 20, 60 and 60)',
      positiveInt('--outage'),
    )
    .option(
      '--port-shift <n>',
      "faults: its own stack's ports are the main stack's plus this (default SHARDCAST_FAULTS_PORT_SHIFT or 10000; its directory: SHARDCAST_FAULTS_STACK_DIR or .stack-faults)",
      positiveInt('--port-shift'),
    )
    .option('--set <name>', 'policy: only the tuning or the evaluation seeds (default: evaluation, tuning beside it)')
    .option('--seed <n>', 'policy: run this one seed of every family (of --set when given) instead of the seed sets', positiveInt('--seed'))
    .option('--seeds <a..b>', 'policy: run these seeds (a..b or a,b,c; of --set when given) instead of the seed sets')
    .option('--families <list>', 'policy: comma-separated workload families (default: all, and the YCSB traces)')
    .option('--workers <n>', 'policy: worker threads (default: one per core but one)', positiveInt('--workers'))
    .option('--runs <file>', 'policy: append each finished run to this JSON-lines file; runs already in it are not run again')
    .action(async (name, o) => (await import('./commands/bench.js')).benchCommand(name, o));

  program
    .command('analytics')
    .description('canned ClickHouse analytics (run with --help for the list)')
    .argument('[query-name]', 'name of the query; omit to list them')
    .addOption(json('print rows as JSON'))
    .option('--limit <n>', 'rows at most', positiveInt('--limit'), 20)
    .option(
      '--since <time>',
      'only rows from this time on: epoch milliseconds or an ISO date (the demo report prints its own)',
      timeArg('--since'),
    )
    .option('--until <time>', 'only rows before this time: epoch milliseconds or an ISO date', timeArg('--until'))
    .addHelpText('after', `\nQueries:\n${describeQueries()}`)
    .action(async (name, o) => (await import('./commands/analytics.js')).analyticsCommand(name, o));

  program
    .command('approve')
    .description('approval mode: list the commands waiting for an operator, or approve (or deny) one')
    .argument('[command-id]', 'the command to decide; omit to list those waiting')
    .option('--deny', 'deny it: the executor reports it REJECTED')
    .option('--by <name>', 'who decides (default user@host)')
    .addOption(json('print as JSON'))
    .action(async (id, o) => (await import('./commands/approve.js')).approveCommand(id, o));

  program
    .command('serve')
    .description('the console: the web UI at / and the operations API under /api/ (bearer-token roles, OpenAPI at /api/openapi.json)')
    .option('--port <port>', 'port to listen on (default SHARDCAST_HTTP_PORT or 8787; 0 = any free port)')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .addHelpText(
      'after',
      '\nTokens: SHARDCAST_API_TOKENS="name:role:token,..." with role viewer | operator | admin (tokens of 16+ characters).\nReads need viewer; approve, deny, stop, pause/resume and executing a proposal need operator; approval modes need admin.\nEvery write is audited to the log and the shardcast.audit topic. Sign in to the web UI with a token.',
    )
    .action(async (o) => (await import('./commands/serve.js')).serveCommand(o));

  program
    .command('command')
    .description('commands issued by an operator')
    .command('send')
    .description('publish commands from JSON (one object or an array, with "kind"), signed like the decide stage\'s')
    .option('--file <path>', 'JSON file (default: stdin)')
    .addOption(json('print the key id and the commands sent as JSON'))
    .action(async (o) => (await import('./commands/command.js')).commandSendCommand(o));

  program
    .command('keys')
    .description('keys for signed commands')
    .command('generate')
    .description('write a new Ed25519 key pair: command-signing.pem (decide, CLI) and command-verify.pem (executors)')
    .requiredOption('--out <dir>', 'directory to write into (made if missing; an existing private key is never overwritten)')
    .addOption(json('print the paths and key id as JSON'))
    .action(async (o) => (await import('./commands/keys.js')).keysGenerateCommand(o));

  const catalog = program
    .command('catalog')
    .description('the Neo4j federation catalog: discovery, where a key lives, what is hot, lineage');
  catalog
    .command('discover')
    .description('introspect every source now (PostgreSQL nodes, ClickHouse, Kafka); print new, vanished and changed objects')
    .addOption(json('print the discovery report as JSON'))
    .action(async (o) => (await import('./commands/catalog.js')).catalogDiscoverCommand(o));
  catalog
    .command('where')
    .description('the partition and nodes that hold a key of a table or topic')
    .argument('<table>', 'catalog id (source/database/name), database.name, or an unambiguous name')
    .argument('<key>', 'the key (an integer for range-partitioned tables)')
    .addOption(json('print the answer as JSON'))
    .action(async (table, key, o) => (await import('./commands/catalog.js')).catalogWhereCommand(table, key, o));
  catalog
    .command('hot')
    .description('series and partitions by their latest window of load (recorded by `run catalog`)')
    .option('--limit <n>', 'series at most', positiveInt('--limit'), 20)
    .option(
      '--since <ms>',
      'only series with a window ending in the last <ms> milliseconds (at most 7 days)',
      positiveInt('--since'),
      900_000,
    )
    .addOption(json('print the answer as JSON'))
    .action(async (o) => (await import('./commands/catalog.js')).catalogHotCommand(o));
  catalog
    .command('deps')
    .description('what is derived from a table (views, materialized views, their targets), transitively')
    .argument('<table>', 'catalog id (source/database/name), database.name, or an unambiguous name')
    .addOption(json('print the answer as JSON'))
    .action(async (table, o) => (await import('./commands/catalog.js')).catalogDepsCommand(table, o));

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
