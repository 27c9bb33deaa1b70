import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { startWorkerThread } from '@mmctr/observability';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { InferencePool } from './inference-pool';

/** The inference pool when SCORER_INFERENCE_WORKERS > 0 (else `pool` is undefined: runs stay in-process). */
@Injectable()
export class InferencePoolService implements OnApplicationShutdown {
  readonly pool: InferencePool | undefined;

  constructor(@Inject(SCORER_CONFIG) config: ScorerConfig, @Inject(LOGGER) logger: Logger) {
    const n = config.SCORER_INFERENCE_WORKERS;
    if (n === 0) return;
    this.pool = new InferencePool(
      n,
      () => {
        const thread = startWorkerThread(__dirname, 'inference.thread', undefined);
        thread.unref();
        return thread;
      },
      logger,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
  }
}
