/** Reads the `.avsc` files kept beside this module and turns them into avsc Types. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';

export const SCHEMA_DIR = path.dirname(fileURLToPath(import.meta.url));

export type SchemaName =
  | 'QueryEvent'
  | 'MetricSample'
  | 'QueryFeatures'
  | 'WorkloadAggregate'
  | 'Forecast'
  | 'PartitionCommand'
  | 'ShardCommand'
  | 'ResourceCommand'
  | 'CommandResult'
  | 'DeadLetter'
  | 'RoutedQuery'
  | 'ForecastPartitionState';

const cache = new Map<string, { json: object; type: avro.Type }>();

/** The schema's JSON text and its avsc Type (cached per process). */
export function loadSchema(name: SchemaName | string): { json: object; type: avro.Type } {
  let hit = cache.get(name);
  if (!hit) {
    const json = JSON.parse(readFileSync(path.join(SCHEMA_DIR, `${name}.avsc`), 'utf8')) as object;
    hit = { json, type: avro.Type.forSchema(json as avro.Schema) };
    cache.set(name, hit);
  }
  return hit;
}
