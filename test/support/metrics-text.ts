// Reading the scorer's /metrics (Prometheus text exposition) in tests.
export { metricValue } from '@mmctr/observability';
