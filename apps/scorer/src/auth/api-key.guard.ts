import { Inject, Injectable } from '@nestjs/common';
import { ApiKeyGuard as SharedApiKeyGuard } from '@mmctr/observability';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';

/** The shared `x-api-key` check with the scorer's keys; open when SCORER_API_KEYS is unset. */
@Injectable()
export class ApiKeyGuard extends SharedApiKeyGuard {
  constructor(@Inject(SCORER_CONFIG) config: ScorerConfig) {
    super(config.SCORER_API_KEYS);
  }
}
