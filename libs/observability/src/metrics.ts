import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Metric constructors that register on one registry, for metrics a table cannot declare (a gauge read
 * at scrape time from the app's own state).
 */
export function metricsOn(registry: Registry) {
  const registers = [registry];
  return {
    counter: <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers }),
    /** `collect` runs at scrape time (a gauge read from elsewhere). */
    gauge: <L extends string = string>(
      name: string,
      help: string,
      labelNames: readonly L[] = [],
      collect?: () => void | Promise<void>,
    ) => new Gauge<L>({ name, help, labelNames, registers, ...(collect ? { collect } : {}) }),
    histogram: <L extends string = string>(
      name: string,
      help: string,
      buckets: number[],
      labelNames: readonly L[] = [],
    ) => new Histogram<L>({ name, help, buckets, labelNames, registers }),
  };
}

/** One metric as scraped: its full name, help text, label names and, for a histogram, its buckets. */
export type MetricDeclaration =
  | { type: 'counter' | 'gauge'; name: string; help: string; labels?: readonly string[] }
  | { type: 'histogram'; name: string; help: string; labels?: readonly string[]; buckets: readonly number[] };

/** An app's metrics: the property each one is read through, and its declaration. */
export type MetricTable = Readonly<Record<string, MetricDeclaration>>;

// A declaration without labels gives `string`, as prom-client's own default does.
type LabelsOf<D> = D extends { labels: readonly (infer L extends string)[] } ? L : string;
type MetricOf<D> = D extends { type: 'counter' }
  ? Counter<LabelsOf<D>>
  : D extends { type: 'gauge' }
    ? Gauge<LabelsOf<D>>
    : Histogram<LabelsOf<D>>;
/** The metrics a table declares, typed by their labels. */
export type MetricsOf<T extends MetricTable> = { readonly [K in keyof T]: MetricOf<T[K]> };

/** Registers every metric of `table` on `registry`, in the table's order. */
export function registerMetrics<const T extends MetricTable>(registry: Registry, table: T): MetricsOf<T> {
  const m = metricsOn(registry);
  const built = Object.entries(table).map(([key, d]) => {
    const labels = d.labels ?? [];
    if (d.type === 'histogram') return [key, m.histogram(d.name, d.help, [...d.buckets], labels)];
    return [key, d.type === 'counter' ? m.counter(d.name, d.help, labels) : m.gauge(d.name, d.help, labels)];
  });
  return Object.fromEntries(built) as MetricsOf<T>;
}

export interface AppMetricsOptions {
  /** Prefix of prom-client's process metrics (none: `process_cpu_seconds_total` and the like). */
  defaultMetricsPrefix?: string;
}

/**
 * Base class of an app's metrics holder: a registry of its own with the table's metrics, each readable
 * as the property the table names, then prom-client's process metrics. `@Injectable() class
 * IngestMetrics extends appMetrics(INGEST_METRICS) {}` is the whole holder when it needs no more.
 */
export function appMetrics<const T extends MetricTable>(table: T, options: AppMetricsOptions = {}) {
  class AppMetrics {
    readonly registry = new Registry();

    constructor() {
      Object.assign(this, registerMetrics(this.registry, table));
      const prefix = options.defaultMetricsPrefix;
      collectDefaultMetrics({ register: this.registry, ...(prefix ? { prefix } : {}) });
    }
  }
  return AppMetrics as new () => AppMetrics & MetricsOf<T>;
}
