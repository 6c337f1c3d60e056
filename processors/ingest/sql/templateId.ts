/** A template's identity: its text with placeholder lists collapsed, and a stable id for that text. */
import { createHash } from 'node:crypto';

/**
 * Template text for identity: the key with lists of only placeholders collapsed, so `IN (?, ?)`
 * and `IN (?, ?, ?)` (and multi-row VALUES) are the same template.
 */
export function collapseLists(key: string): string {
  return key.replace(/\(\s*\?(?:\s*,\s*\?)*\s*\)/g, '(?+)').replace(/\(\?\+\)(?:\s*,\s*\(\?\+\))+/g, '(?+)...');
}

/** Stable template id: first 16 hex chars of the SHA-1 of the text (computed once per template). */
export function templateHash(s: string): string {
  return createHash('sha1').update(s).digest('hex').slice(0, 16);
}
