/**
 * Bearer tokens and roles of the HTTP API. `SHARDCAST_API_TOKENS` holds comma-separated entries
 * `name:role:token`; roles are ordered viewer < operator < admin, and a route names the least
 * role it needs. Tokens are compared in constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../../lib/config.js';
import { HttpError } from './errors.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const TOKENS_ENV = 'SHARDCAST_API_TOKENS';

export interface Principal {
  name: string;
  role: Role;
}

export interface TokenEntry extends Principal {
  token: Buffer;
}

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** Parses `name:role:token,...`; a bad entry is a ConfigError naming the variable and the entry's position (never the token). */
export function parseTokens(spec: string | undefined): TokenEntry[] {
  const out: TokenEntry[] = [];
  const entries = (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  entries.forEach((entry, i) => {
    const [name = '', role = '', ...rest] = entry.split(':');
    const token = rest.join(':');
    const where = `entry ${i + 1}`;
    if (!NAME.test(name)) throw new ConfigError(TOKENS_ENV, `${where}: the name must be 1-64 of A-Z a-z 0-9 . _ @ -`);
    if (!(ROLES as readonly string[]).includes(role))
      throw new ConfigError(TOKENS_ENV, `${where} (${name}): role must be one of ${ROLES.join(', ')}`);
    if (token.length < 16) throw new ConfigError(TOKENS_ENV, `${where} (${name}): the token must have at least 16 characters`);
    if (out.some((e) => e.name === name)) throw new ConfigError(TOKENS_ENV, `${where}: the name ${name} is given twice`);
    if (out.some((e) => e.token.equals(Buffer.from(token))))
      throw new ConfigError(TOKENS_ENV, `${where} (${name}): the token is given twice`);
    out.push({ name, role: role as Role, token: Buffer.from(token) });
  });
  return out;
}

/** The principal of an `Authorization: Bearer <token>` header, or 401. */
export function authenticate(header: string | undefined, tokens: readonly TokenEntry[]): Principal {
  if (tokens.length === 0) throw new HttpError(401, 'unauthorized', `no API tokens are configured (${TOKENS_ENV})`);
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) throw new HttpError(401, 'unauthorized', 'an Authorization: Bearer <token> header is required');
  const given = Buffer.from(m[1]!);
  let found: TokenEntry | undefined;
  for (const e of tokens) if (e.token.length === given.length && timingSafeEqual(e.token, given)) found = e;
  if (!found) throw new HttpError(401, 'unauthorized', 'the token is not valid');
  return { name: found.name, role: found.role };
}

/** 403 unless `p` has at least `need`. */
export function authorize(p: Principal, need: Role): void {
  if (ROLES.indexOf(p.role) < ROLES.indexOf(need)) throw new HttpError(403, 'forbidden', `${p.name} is ${p.role}; this needs ${need}`);
}
