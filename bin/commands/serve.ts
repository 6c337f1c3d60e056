/**
 * `shardcast serve [--port P] [--host H]`: the console (console/http): the web UI at `/` and the
 * operations API under `/api/`, until SIGINT or SIGTERM. Prints the URL; tokens come from
 * SHARDCAST_API_TOKENS.
 */
import { startConsole } from '../../console/http/console.js';
import { loadConfig } from '../../lib/config.js';
import { logger } from '../../lib/log.js';

export async function serveCommand(o: { port?: string; host?: string }): Promise<void> {
  const running = await startConsole(loadConfig(), logger('serve'), o);
  process.stdout.write(`shardcast console at ${running.url}/ (API: ${running.url}/api/, OpenAPI: ${running.url}/api/openapi.json)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
}
