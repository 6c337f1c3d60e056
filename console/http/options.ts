/** Where `shardcast serve` listens and whom it lets in: flags over the environment over defaults. */
import { z } from 'zod';
import { ConfigError } from '../../lib/config.js';
import { parseTokens, TOKENS_ENV, type TokenEntry } from './auth.js';

export const PORT_ENV = 'SHARDCAST_HTTP_PORT';
export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';

const Port = z.coerce.number().int().min(0).max(65535);

export interface HttpOptions {
  host: string;
  port: number;
  tokens: TokenEntry[];
}

export function httpOptions(flags: { port?: string | number; host?: string }, env: NodeJS.ProcessEnv = process.env): HttpOptions {
  const [raw, from] =
    flags.port !== undefined ? [flags.port, '--port'] : env[PORT_ENV] ? [env[PORT_ENV], PORT_ENV] : [DEFAULT_PORT, PORT_ENV];
  const port = Port.safeParse(raw);
  if (!port.success) throw new ConfigError(from, `expected a port from 0 to 65535 (got ${JSON.stringify(raw)})`);
  return { host: flags.host ?? DEFAULT_HOST, port: port.data, tokens: parseTokens(env[TOKENS_ENV]) };
}
