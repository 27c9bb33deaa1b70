import { type Gauge, Registry } from 'prom-client';
import { metricsOn } from './metrics';

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
