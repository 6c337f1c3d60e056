/** The SQL side of hashed shard keys (schemas/keyHash.ts): what a table's ranges cut, in SQL. */
import { quoteIdent } from '../identifiers.js';

/** SQL for the value ranges cut on `column`: the column, or its hash. */
export function keySql(column: string, hashed: boolean): string {
  return hashed ? `hashint8(${quoteIdent(column)}::bigint)` : quoteIdent(column);
}
