/**
 * kafkajs, loaded after its read-committed filter was corrected (kafkajsReadCommitted.ts).
 * Everything imports kafkajs from here, never directly (biome.jsonc's noRestrictedImports).
 */
import './kafkajsReadCommitted.js';

export * from 'kafkajs';
export { default } from 'kafkajs';
