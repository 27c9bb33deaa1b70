export { compileEventContract, EVENT_RESERVED, type EventContract } from './event-contract';
export { compileEntityContract, findEntity, type EntityContract } from './entity-contract';
export type { ContractResult, NormalisedRecord } from './record-fields';
export { compileRowEncoder, type ComputedColumn, type RowEncoder } from './row-encoder';
export { compileEventsEncoder, compileEntityEncoder, eventsTable, type TableSource } from './table-encoders';
export { snapshotEntities, entityTopic, historySequences, type HistorySequence } from './wiring';
