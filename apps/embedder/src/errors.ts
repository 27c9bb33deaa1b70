/**
 * Why an item could not be embedded. `permanent` failures (a 404, an undecodable image, a blocked
 * address) fail the job at once; the others are retried with backoff.
 */
export type FailureReason =
  | 'image_blocked'
  | 'image_not_found'
  | 'image_too_large'
  | 'image_unsupported_type'
  | 'image_undecodable'
  | 'image_fetch_failed'
  | 'image_timeout'
  | 'invalid_job'
  | 'inference_failed'
  | 'storage_failed';

export class EmbedFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
    readonly permanent: boolean,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'EmbedFailure';
  }
}

export const permanent = (reason: FailureReason, message: string) => new EmbedFailure(reason, message, true);
export const transient = (reason: FailureReason, message: string) => new EmbedFailure(reason, message, false);

/** The reason label of any error (unknown errors are transient storage or inference trouble). */
export function reasonOf(err: unknown): FailureReason | 'unknown' {
  return err instanceof EmbedFailure ? err.reason : 'unknown';
}
