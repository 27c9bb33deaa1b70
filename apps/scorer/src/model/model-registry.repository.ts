import { Inject, Injectable } from '@nestjs/common';
import { ClickHouseService } from '@mmctr/clickhouse';

export interface RegistryModel {
  version: string;
  model_type: string;
  artifact_uri: string;
  feature_spec_version: string;
}

/** Reads the model registry (models_current). */
@Injectable()
export class ModelRegistryRepository {
  constructor(@Inject(ClickHouseService) private readonly ch: ClickHouseService) {}

  /** The newest version with the given status, or null. */
  async newest(status: 'production' | 'candidate'): Promise<RegistryModel | null> {
    const [row] = await this.ch.query<RegistryModel>(
      `SELECT version, model_type, artifact_uri, feature_spec_version
       FROM models_current WHERE toString(status) = {status:String}
       ORDER BY latest_updated_ms DESC, version DESC LIMIT 1`,
      { status },
    );
    return row ?? null;
  }
}
