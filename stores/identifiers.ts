/**
 * Identifier checks for commands. Commands name catalog objects; an executor only ever
 * puts a name into SQL after it matched this pattern AND was found in the catalog, and then
 * quotes it, so text from a message can never become SQL.
 */
import { InputError } from '../lib/errors.js';
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function isPlainIdentifier(name: unknown): name is string {
  return typeof name === 'string' && IDENT.test(name);
}

/** Double-quotes a checked identifier for PostgreSQL/ClickHouse. Throws on anything else. */
export function quoteIdent(name: string): string {
  if (!isPlainIdentifier(name)) throw new InputError(`not a plain identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** A finite number parameter, or null with the reason. */
export function numberParam(params: Record<string, string>, key: string): { value: number } | { reason: string } {
  const raw = params[key];
  if (raw === undefined) return { reason: `missing parameter ${key}` };
  const value = Number(raw);
  if (!Number.isFinite(value)) return { reason: `parameter ${key} is not a finite number: ${JSON.stringify(raw)}` };
  return { value };
}

/** `"db"."name"` for two checked identifiers (ClickHouse). */
export function quoteQualified(db: string, name: string): string {
  return `${quoteIdent(db)}.${quoteIdent(name)}`;
}

/**
 * A single-quoted SQL string literal for a catalog token (an identifier, a ClickHouse part name,
 * a partition id). Only [A-Za-z0-9_.:-] is accepted, so no quote or backslash ever needs escaping
 * and server versions without query parameters (ClickHouse 18.16) stay safe.
 */
export function quoteToken(token: string): string {
  if (typeof token !== 'string' || !/^[A-Za-z0-9_.:-]{0,255}$/.test(token)) {
    throw new InputError(`not a catalog token: ${JSON.stringify(token)}`);
  }
  return `'${token}'`;
}

/** A legal Kafka topic name (the broker's own rule: [a-zA-Z0-9._-], 1..249 characters). */
export function isTopicName(name: unknown): name is string {
  return typeof name === 'string' && /^[A-Za-z0-9._-]{1,249}$/.test(name) && name !== '.' && name !== '..';
}
