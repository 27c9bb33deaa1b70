import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '@mmctr/observability';
import { AnalyticsRepository } from './analytics.repository';
import { DASHBOARD_CONFIG, type DashboardConfig } from './dashboard-config';
import { PipelineStateRepository, type QueueDepth } from './pipeline-state.repository';

export interface Sample<T> {
  t: number;
  value: T;
}

/** A section either has data or says why it has none; one failing source never blanks the page. */
export type Section<T> = { ok: true; data: T } | { ok: false; error: string };

async function section<T>(load: () => Promise<T>): Promise<Section<T>> {
  try {
    return { ok: true, data: await load() };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

@Injectable()
export class DashboardService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly lag: Sample<number>[] = [];
  private readonly queue: Sample<QueueDepth>[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The sample being taken, if any: shutdown waits for it rather than leave its Kafka call behind. */
  private sampling: Promise<void> | undefined;

  constructor(
    private readonly analytics: AnalyticsRepository,
    private readonly pipeline: PipelineStateRepository,
    @Inject(DASHBOARD_CONFIG) private readonly config: DashboardConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const tick = () => {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.config.DASHBOARD_SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await Promise.race([this.sampling, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
  }

  /** Lag and queue depth have no history in ClickHouse, so the dashboard keeps its own samples. */
  async sample(): Promise<void> {
    const t = Date.now();
    const push = <T>(buf: Sample<T>[], value: T) => {
      buf.push({ t, value });
      if (buf.length > this.config.DASHBOARD_SAMPLES_KEPT) buf.shift();
    };
    await Promise.all([
      this.pipeline.ingestLag().then(
        (v) => push(this.lag, v),
        (err: Error) => this.log.warn({ err: err.message }, 'ingest lag sample failed'),
      ),
      this.pipeline.queueDepth().then(
        (v) => push(this.queue, v),
        (err: Error) => this.log.warn({ err: err.message }, 'queue depth sample failed'),
      ),
    ]);
  }

  async snapshot() {
    const [ctr, calibration, models, ingest] = await Promise.all([
      section(() => this.analytics.ctrOverTime()),
      section(() => this.analytics.calibration()),
      section(() => this.analytics.models()),
      section(() => this.analytics.ingestThroughput()),
    ]);
    return {
      generated_at: Date.now(),
      ctr,
      calibration,
      models,
      ingest,
      ingest_lag: { ok: true, data: [...this.lag] } as Section<Sample<number>[]>,
      queue_depth: { ok: true, data: [...this.queue] } as Section<Sample<QueueDepth>[]>,
    };
  }
}
