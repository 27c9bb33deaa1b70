// Reading the scorer's /metrics (Prometheus text exposition) in tests.

/** The value of `series` (a name with its labels as exposed, e.g. `x_total{reason="a"}`) in `metrics`; 0 when absent. */
export const metricValue = (metrics: string, series: string): number =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);
