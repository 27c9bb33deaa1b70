export * from './types';
export { FEATURE_REPO_SCHEMA, schemaErrors } from './schema-check';
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
