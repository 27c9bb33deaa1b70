// Reading Prometheus text exposition (an app's /metrics), for tools and tests that scrape one.
import escape from 'escape-string-regexp';

/** The value of `series` (a name with its labels as exposed, e.g. `x_total{reason="a"}`) in `metrics`; 0 when absent. */
export const metricValue = (metrics: string, series: string): number =>
  Number(new RegExp(`^${escape(series)} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);

/**
 * Each series of the metric `name` in `metrics`, by the value of its label `label` (series without that
 * label are left out): e.g. `x_total{reason="a"} 3` gives `a` -> 3.
 */
export function metricByLabel(metrics: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  const line = new RegExp(`^${escape(name)}\\{([^}]*)\\} (\\S+)$`, 'gm');
  const labelValue = new RegExp(`(?:^|,)${escape(label)}="((?:[^"\\\\]|\\\\.)*)"`);
  for (const m of metrics.matchAll(line)) {
    const v = labelValue.exec(m[1]!)?.[1];
    if (v !== undefined) out.set(v, (out.get(v) ?? 0) + Number(m[2]));
  }
  return out;
}
