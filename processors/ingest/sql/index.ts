/** The SQL featurizer's public surface. */
export {
  featurize,
  initSqlParsers,
  TemplateCache,
  toQueryFeatures,
  type FeaturizeConfig,
  type FeaturesWithKeys,
  type CacheStats,
  type PartitionKeySpec,
} from './featurize.js';
export { scanSql, collapseLists, templateHash, type ScanResult, type ScannedLiteral } from './scanner.js';
export { bucketOf, bucketsOf, keyRangesFor, evalWhere, predSet } from './keyrange.js';
