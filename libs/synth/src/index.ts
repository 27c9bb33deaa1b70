export * from './config';
export * from './generate';
export { readJsonl } from './jsonl';
export { auc, logLoss } from './metrics';
export { Rng, mulberry32 } from './prng';
export { itemSvg, topicStyle } from './image';
export { CATEGORIES, topicVocabulary } from './vocabulary';
