/** What the scoring work asks of an admitted request's deadline as it goes. */
export interface WorkDeadline {
  /** True once the deadline has passed. */
  passed(): boolean;
}

/** Where the work stopped for a deadline: before the run (saved) or after it (answered too late). */
export type AbandonedAt = 'before_inference' | 'after_inference';

/**
 * Thrown by the scoring work when the request's deadline has passed before its run: the caller gets a
 * 503 rather than an answer it has stopped waiting for, and the run is not spent on it.
 */
export class DeadlineExceededError extends Error {
  constructor() {
    super('the deadline passed before the model could run');
    this.name = 'DeadlineExceededError';
  }
}
