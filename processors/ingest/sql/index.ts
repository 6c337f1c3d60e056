/** The SQL featurizer's public surface. */
export {
  featurize,
  initSqlParsers,
  toQueryFeatures,
  type FeaturizeConfig,
  type FeaturesWithKeys,
  type PartitionKeySpec,
} from './featurize.js';
export { TemplateCache, type CacheStats } from './templateCache.js';
export { scanSql, type ScanResult, type ScannedLiteral } from './scanner.js';
export { collapseLists, templateHash } from './templateId.js';
export { bucketOf, bucketsOf, keyRangesFor, evalWhere, predSet } from './keyrange.js';
