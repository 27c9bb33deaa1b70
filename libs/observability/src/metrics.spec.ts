import { type Gauge, Registry } from 'prom-client';
import { appMetrics, metricsOn, registerMetrics, type MetricTable } from './metrics';

describe('metricsOn', () => {
  it('registers counters, gauges (read at scrape when collected) and histograms on the one registry', async () => {
    const registry = new Registry();
    const m = metricsOn(registry);
    let depth = 0;
    const jobs = m.counter('t_jobs_total', 'Jobs by outcome', ['outcome']);
    const queue: Gauge = m.gauge('t_queue_depth', 'Queue depth', [], (): void => queue.set(depth));
    const seconds = m.histogram('t_seconds', 'Time', [0.1, 1]);
    jobs.inc({ outcome: 'stored' }, 2);
    seconds.observe(0.5);
    depth = 7;
    const text = await registry.metrics();
    expect(text).toContain('# HELP t_jobs_total Jobs by outcome\n# TYPE t_jobs_total counter');
    expect(text).toMatch(/^t_jobs_total\{outcome="stored"\} 2$/m);
    expect(text).toMatch(/^t_queue_depth 7$/m);
    expect(text).toMatch(/^t_seconds_bucket\{le="1"\} 1$/m);
    expect(text).toMatch(/^t_seconds_bucket\{le="0.1"\} 0$/m);
  });
});

const TABLE = {
  jobs: { type: 'counter', name: 't_jobs_total', help: 'Jobs by outcome', labels: ['outcome'] },
  depth: { type: 'gauge', name: 't_depth', help: 'Queue depth' },
  seconds: {
    type: 'histogram',
    name: 't_job_seconds',
    help: 'Job time by queue',
    labels: ['queue'],
    buckets: [0.1, 1],
  },
} as const satisfies MetricTable;

describe('registerMetrics', () => {
  it('registers each declared metric, with its help, labels and buckets, as the property the table names', async () => {
    const registry = new Registry();
    const m = registerMetrics(registry, TABLE);
    m.jobs.inc({ outcome: 'stored' });
    m.depth.set(3);
    m.seconds.observe({ queue: 'a' }, 0.5);
    // @ts-expect-error: the table gives `jobs` the label `outcome` only
    expect(() => m.jobs.inc({ result: 'x' })).toThrow(/result/);
    const text = await registry.metrics();
    expect(text).toContain('# HELP t_jobs_total Jobs by outcome\n# TYPE t_jobs_total counter');
    expect(text).toMatch(/^t_jobs_total\{outcome="stored"\} 1$/m);
    expect(text).toContain('# TYPE t_depth gauge');
    expect(text).toMatch(/^t_depth 3$/m);
    expect(text).toContain('# HELP t_job_seconds Job time by queue\n# TYPE t_job_seconds histogram');
    expect(text).toMatch(/^t_job_seconds_bucket\{le="0.1",queue="a"\} 0$/m);
    expect(text).toMatch(/^t_job_seconds_bucket\{le="1",queue="a"\} 1$/m);
  });
});

describe('appMetrics', () => {
  class TestMetrics extends appMetrics(TABLE, { defaultMetricsPrefix: 't_' }) {}

  it("gives each holder a registry of its own with the table's metrics and the prefixed process metrics", async () => {
    const a = new TestMetrics();
    const b = new TestMetrics();
    a.jobs.inc({ outcome: 'stored' }, 2);
    const names = (await a.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.slice(0, 3)).toEqual(['t_jobs_total', 't_depth', 't_job_seconds']);
    expect(names).toContain('t_process_cpu_seconds_total');
    expect(await a.registry.metrics()).toMatch(/^t_jobs_total\{outcome="stored"\} 2$/m);
    expect(await b.registry.metrics()).not.toMatch(/^t_jobs_total\{/m);
  });

  it('without a prefix, registers the process metrics under their own names', async () => {
    const names = (await new (appMetrics(TABLE))().registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('process_cpu_seconds_total');
  });
});
