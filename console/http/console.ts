/**
 * The console (web UI and API) as one thing to start and stop, for `shardcast serve`, `run all`
 * and the demo: options from flags and the environment, the operations layer, the server. When
 * no port was asked for and the default one is taken, any free port is used (and said).
 */
import { createRequire } from 'node:module';
import { type Config, ConfigError } from '../../lib/config.js';
import type { Logger } from '../../lib/log.js';
import { type Operations, type OperationsOptions, openOperations } from '../ops/operations.js';
import { httpOptions, PORT_ENV } from './options.js';
import { startServer } from './server.js';

export interface RunningConsole {
  url: string;
  tokens: number;
  /** The operations layer the server calls (the demo approves through it as an operator would). */
  operations: Operations;
  close(): Promise<void>;
}

export async function startConsole(
  cfg: Config,
  log: Logger,
  flags: { port?: string | number; host?: string } = {},
  ops: Omit<OperationsOptions, 'log'> = {},
): Promise<RunningConsole> {
  const opts = httpOptions(flags);
  const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
  const operations = openOperations(cfg, { ...ops, log });
  const chosen = flags.port !== undefined || process.env[PORT_ENV] !== undefined;
  const start = (port: number) => startServer({ ops: operations, log, tokens: opts.tokens, host: opts.host, port, version });
  let server: Awaited<ReturnType<typeof start>>;
  try {
    server = await start(opts.port).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') throw err;
      if (chosen)
        throw new ConfigError(
          flags.port !== undefined ? '--port' : PORT_ENV,
          `port ${opts.port} on ${opts.host} is in use; pick another (0 = any free port)`,
        );
      log.warn({ port: opts.port }, 'the default console port is in use; serving on a free port');
      return start(0);
    });
  } catch (err) {
    await operations.close();
    throw err;
  }
  if (opts.tokens.length === 0) log.warn('no API tokens configured (SHARDCAST_API_TOKENS): every request but /api/openapi.json gets 401');
  return {
    url: server.url,
    tokens: opts.tokens.length,
    operations,
    async close() {
      await server.close();
      await operations.close();
    },
  };
}
