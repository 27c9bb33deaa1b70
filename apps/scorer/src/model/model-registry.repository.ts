import { Injectable } from '@nestjs/common';
import { ClickHouseService } from '@mmctr/clickhouse';

export interface RegistryModel {
  version: string;
  model_type: string;
  artifact_uri: string;
  feature_spec_version: string;
}

/** Reads the model registry (models_current, and models for each version's status history). */
@Injectable()
export class ModelRegistryRepository {
  constructor(private readonly ch: ClickHouseService) {}

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

  /**
   * Production versions to serve, best first: those now in production, then those retired after having
   * been production (promotion retires the previous one), by when they last became production. Empty
   * when no version is in production now. A version retired without ever serving is not listed.
   */
  async productionVersions(limit: number): Promise<RegistryModel[]> {
    const rows = await this.ch.query<RegistryModel & { current: number }>(
      // 18.16: one equi-JOIN of two subqueries, unqualified column names; modern servers: aliased subqueries.
      `SELECT version, model_type, artifact_uri, feature_spec_version, current
       FROM (
         SELECT version, model_type, artifact_uri, feature_spec_version,
                toString(status) = 'production' AS current
         FROM models_current WHERE toString(status) IN ('production', 'retired')
       ) AS versions
       ANY INNER JOIN (
         SELECT version, max(updated_ms) AS promoted_ms FROM models
         WHERE toString(status) = 'production' GROUP BY version
       ) AS promotions USING version
       ORDER BY current DESC, promoted_ms DESC, version DESC
       LIMIT ${Math.max(1, Math.trunc(limit))}`, // 18.16 takes no CAST in LIMIT: an integer literal
    );
    if (!rows.some((r) => Number(r.current) === 1)) return [];
    return rows.map(({ version, model_type, artifact_uri, feature_spec_version }) => ({
      version,
      model_type,
      artifact_uri,
      feature_spec_version,
    }));
  }
}
