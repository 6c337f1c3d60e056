/**
 * Identifier checks for commands. Commands name catalog objects; an executor only ever
 * puts a name into SQL after it matched this pattern AND was found in the catalog, and then
 * quotes it, so text from a message can never become SQL.
 */
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function isPlainIdentifier(name: unknown): name is string {
  return typeof name === 'string' && IDENT.test(name);
}

/** Double-quotes a checked identifier for PostgreSQL/ClickHouse. Throws on anything else. */
export function quoteIdent(name: string): string {
  if (!isPlainIdentifier(name)) throw new Error(`not a plain identifier: ${JSON.stringify(name)}`);
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
