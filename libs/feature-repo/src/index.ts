export * from './types';
export { FEATURE_REPO_SCHEMA, schemaErrors } from './schema-check';
export { durationMs, aggregationOp, type AggregationOpName } from './aggregations';
export { semanticErrors, resolveReference, featureEntity, type Resolved } from './semantic';
export {
  checkFeatureRepo,
  parseFeatureRepo,
  loadFeatureRepo,
  resolveRepoPath,
  FeatureRepoError,
  REPO_FILE,
} from './load';
export { legacySpecView, type LegacySpecView } from './legacy-spec';
export {
  planChanges,
  formatPlan,
  addColumnDdl,
  chLiteral,
  chString,
  type RepoPlan,
  type PlanOptions,
} from './plan';
export {
  FeatureRepoModule,
  FEATURE_REPO,
  DEFAULT_FEATURE_REPO_PATH,
  featureRepoFromConfig,
} from './feature-repo.module';
export { readTableColumns, type TableColumn } from './storage/table-columns';
export {
  modelLayout,
  LayoutError,
  type ModelLayout,
  type InputGroup,
  type SequenceLayout,
  type GraphInput,
  type CategoricalSlot,
  type NumericSlot,
  type MultiSlot,
  type VectorSlot,
} from './layout';
export {
  ARTIFACT_REPO_FILE,
  artifactFeatureRepo,
  missingFeatures,
  incompatibilityReason,
  type ArtifactFeatureRepo,
} from './model-compat';
export {
  storageTables,
  type StorageTable,
  type StorageColumn,
  type ColumnRole,
} from './storage/storage-layout';
export { storageDiff, createTableDdl, parseEnum8, type StorageDiff } from './storage/storage-ddl';
export { CH_TYPE, columnAccepts } from './storage/column-types';
export {
  LEDGER_TABLE,
  type FeatureStore,
  type AppliedVersion,
  type RegisteredModel,
} from './storage/feature-store';
export { FeatureStoreRepository } from './storage/feature-store.repository';
export { modelImpacts, artifactDir, type ModelImpact } from './storage/model-impact';
export {
  applyRepository,
  planRepository,
  assertRepositoryApplied,
  formatStorePlan,
  refusals,
  type ApplyOptions,
  type ApplyResult,
  type ApplyStatus,
  type StorePlan,
} from './storage/apply';
export {
  assertRunningRepositoryApplied,
  runningRepoPath,
  repositoryAppliedCheck,
  REPOSITORY_APPLIED,
} from './storage/applied-check';
export * from './contract';
export {
  CATALOGUE_EMBEDDING,
  TEXT_ENCODER_WIDTH,
  embeddingStore,
  embeddingJobs,
  embeddingInputValues,
  embeddingContentHash,
  embeddingText,
  entityEmbeddingWork,
  type EntityEmbeddingWork,
  type EmbeddingStore,
  type EmbeddingInput,
  type EntityEmbeddingSpec,
  type UnsupportedEmbedding,
  type EmbeddingJobs,
} from './embeddings';
