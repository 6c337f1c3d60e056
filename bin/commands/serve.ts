/**
 * `shardcast serve [--port P] [--host H]`: the operations API (console/http) until SIGINT or
 * SIGTERM. Prints the URL; tokens come from SHARDCAST_API_TOKENS.
 */
import { createRequire } from 'node:module';
import { httpOptions } from '../../console/http/options.js';
import { startServer } from '../../console/http/server.js';
import { openOperations } from '../../console/ops/operations.js';
import { loadConfig } from '../../lib/config.js';
import { logger } from '../../lib/log.js';

export async function serveCommand(o: { port?: string; host?: string }): Promise<void> {
  const opts = httpOptions(o);
  const cfg = loadConfig();
  const log = logger('serve');
  const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
  const ops = openOperations(cfg, { log });
  const server = await startServer({ ops, log, tokens: opts.tokens, host: opts.host, port: opts.port, version });
  if (opts.tokens.length === 0) log.warn('no API tokens configured (SHARDCAST_API_TOKENS): every request but /api/openapi.json gets 401');
  process.stdout.write(`shardcast API at ${server.url}/api/ (OpenAPI: ${server.url}/api/openapi.json)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await ops.close();
}
