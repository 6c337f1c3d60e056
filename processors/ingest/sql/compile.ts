/**
 * One statement → CompiledTemplate: PostgreSQL with its own grammar (pg.ts) once loaded, every
 * other dialect with node-sql-parser (generic.ts); the template id is the hash of the scanner key
 * when the parser gives none.
 */
import type { Dialect, Operation } from '../../../schemas/types.js';
import { compileGeneric } from './generic.js';
import { classify, type CompiledTemplate } from './ir.js';
import { compilePg } from './pg.js';
import { pgReady } from './pgTree.js';
import type { ScannedLiteral } from './scanner.js';
import { collapseLists, templateHash } from './templateId.js';

/** Operation guessed from the first word, for statements that do not parse. */
export function guessOperation(key: string): Operation {
  const w = /^[\s(]*([A-Za-z]+)/.exec(key)?.[1]?.toLowerCase();
  switch (w) {
    case 'select':
    case 'with':
    case 'show':
    case 'explain':
      return 'select';
    case 'insert':
    case 'replace':
    case 'copy':
      return 'insert';
    case 'update':
    case 'merge':
      return 'update';
    case 'delete':
      return 'delete';
    case 'create':
    case 'alter':
    case 'drop':
    case 'truncate':
    case 'rename':
      return 'ddl';
    default:
      return 'other';
  }
}

/**
 * A statement compiled with its dialect's parser; one that does not parse still gets a template
 * (its scanner key) and an operation guessed from its first word.
 */
export function compileTemplate(sql: string, dialect: Dialect, key: string, lits: ScannedLiteral[]): CompiledTemplate {
  const family = dialect === 'postgres' ? 'postgres' : 'other';
  const fallbackId = templateHash(`${family}\n${collapseLists(key)}`);
  if (dialect === 'postgres' && pgReady()) {
    const c = compilePg(sql, lits);
    if (c.parseError !== null) {
      const operation = guessOperation(key);
      return { ...c, templateId: fallbackId, template: key, operation, readWrite: classify(operation, false) };
    }
    return { ...c, templateId: c.templateId ?? fallbackId, template: c.template ?? key };
  }
  const c = compileGeneric(sql, lits, dialect === 'postgres' ? 'postgres' : dialect);
  if (c.parseError !== null) {
    const operation = guessOperation(key);
    return { ...c, templateId: fallbackId, template: key, operation, readWrite: classify(operation, false) };
  }
  return { ...c, templateId: fallbackId, template: collapseLists(key) };
}
