import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Metric constructors that register on one registry: each app's metrics class declares its metrics as
 * `m.counter(name, help, labels)` instead of repeating the prom-client options.
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
