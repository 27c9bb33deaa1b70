import { Injectable } from '@nestjs/common';
import { ClickHouseService, type HealthStatus } from '@mmctr/clickhouse';

export interface CtrPoint {
  t: number;
  impressions: number;
  clicks: number;
  ctr: number;
}
export interface CalibrationBucket {
  model_version: string;
  bucket: number;
  n: number;
  predicted: number;
  observed: number;
}
export interface ModelRow {
  version: string;
  model_type: string;
  status: string;
  metrics: string;
  created_at: string;
}
export interface IngestPoint {
  t: number;
  rows: number;
  invalid: number;
  avg_insert_ms: number;
}

/** The analyst views the dashboard charts, read from ClickHouse. */
@Injectable()
export class AnalyticsRepository {
  constructor(private readonly clickhouse: ClickHouseService) {}

  /** Whether ClickHouse answers (the readiness check: every chart reads it). */
  ping(): Promise<HealthStatus> {
    return this.clickhouse.health();
  }

  /**
   * CTR per hour of event time (the synthetic streams span days), from the hourly rollup: finalized hours
   * cost a few rows each, only the open tail is computed from events (docs/schema.md).
   */
  async ctrOverTime(): Promise<CtrPoint[]> {
    const rows = await this.clickhouse.query<{ t: string; impressions: string; clicks: string }>(
      `SELECT toUnixTimestamp(hour) AS t, sum(impressions) AS impressions, sum(clicks) AS clicks
       FROM hourly_ctr GROUP BY t ORDER BY t`,
    );
    return rows.map((r) => {
      const impressions = Number(r.impressions);
      const clicks = Number(r.clicks);
      return { t: Number(r.t) * 1000, impressions, clicks, ctr: impressions ? clicks / impressions : 0 };
    });
  }

  /**
   * Predicted vs observed CTR per 0.02-wide bucket of the served score, per model version, over scored
   * impressions (a candidate never shown has no outcome), from the calibration rollup (docs/schema.md).
   */
  async calibration(): Promise<CalibrationBucket[]> {
    const rows = await this.clickhouse.query<Record<keyof CalibrationBucket, string>>(
      `SELECT model_version, bucket, impressions AS n, predicted_ctr AS predicted, observed_ctr AS observed
       FROM score_calibration_fine ORDER BY model_version, bucket`,
    );
    return rows.map((r) => ({
      model_version: r.model_version,
      bucket: Number(r.bucket),
      n: Number(r.n),
      predicted: Number(r.predicted),
      observed: Number(r.observed),
    }));
  }

  async models(): Promise<ModelRow[]> {
    return this.clickhouse.query<ModelRow>(
      `SELECT version, model_type, toString(status) AS status, metrics, toString(created_at) AS created_at
       FROM models_current ORDER BY created_at DESC, version LIMIT 50`,
    );
  }

  /**
   * Rows stored (and sent to the dead-letter topic) per hour over the last 48 hours of wall-clock time,
   * from the ingestion health rollup: finalized hours are a row per topic, the rest read from the batches.
   */
  async ingestThroughput(): Promise<IngestPoint[]> {
    const rows = await this.clickhouse.query<Record<keyof IngestPoint, string>>(
      `SELECT toUnixTimestamp(hour) AS t, sum(rows) AS rows, sum(invalid) AS invalid,
              sum(avg_insert_ms * batches) / sum(batches) AS avg_insert_ms
       FROM ingestion_health_hourly WHERE hour >= now() - 172800 GROUP BY t ORDER BY t`,
    );
    return rows.map((r) => ({
      t: Number(r.t) * 1000,
      rows: Number(r.rows),
      invalid: Number(r.invalid),
      avg_insert_ms: Number(r.avg_insert_ms),
    }));
  }
}
