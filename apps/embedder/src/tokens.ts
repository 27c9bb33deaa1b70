/** Injection tokens of the embedder's non-class providers. */
export const MODEL_SET = Symbol('MODEL_SET');
export const INFERENCE_POOL = Symbol('INFERENCE_POOL');
/** Redis for the repositories (fail-fast retries). */
export const REDIS = Symbol('REDIS');
/** Redis for BullMQ (maxRetriesPerRequest: null, as its blocking commands need). */
export const BULL_REDIS = Symbol('BULL_REDIS');
