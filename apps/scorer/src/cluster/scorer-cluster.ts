// Multi-process mode (SCORER_PROCESSES > 1): Node's cluster module. The primary forks the scorer
// processes, which share the port (the primary accepts connections and hands them round-robin to the
// processes; a kept-alive connection stays with its process), and replaces one that exits. Each
// process owns its model sessions and onnxruntime threads. /metrics on any process answers the
// aggregate over all of them, gathered by the primary over the cluster's IPC channel.
import cluster, { type Worker } from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';

const METRICS_REQUEST = 'mmctr-scorer:metrics-request';
const METRICS_ANSWER = 'mmctr-scorer:metrics-answer';
const RESTART_DELAY_MS = 1000;

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: number;
}
interface MetricsAnswer {
  type: typeof METRICS_ANSWER;
  id: number;
  text?: string;
  error?: string;
}

/**
 * The primary: forks `processes` scorers, replaces one that exits unexpectedly (after a second), and on
 * SIGTERM / SIGINT passes the signal on and exits once every scorer has (each bounds its own shutdown).
 */
export function runPrimary(processes: number, logger: Logger): void {
  const aggregator = new AggregatorRegistry();
  let stopping = false;

  const answerMetrics = (worker: Worker, m: MetricsRequest) => {
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_ANSWER, id: m.id, text } satisfies MetricsAnswer),
      (err: Error) =>
        worker.send({ type: METRICS_ANSWER, id: m.id, error: err.message } satisfies MetricsAnswer),
    );
  };

  const fork = (index: number) => {
    const worker = cluster.fork({ SCORER_PROCESS_INDEX: String(index) });
    worker.on('message', (m: { type?: string }) => {
      if (m?.type === METRICS_REQUEST) answerMetrics(worker, m as MetricsRequest);
    });
    worker.on('exit', (code, signal) => {
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
        return;
      }
      logger.error({ process: index, code, signal }, 'scorer process exited; starting a fresh one');
      setTimeout(() => !stopping && fork(index), RESTART_DELAY_MS);
    });
  };

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(0);
    for (const w of workers) w?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  logger.info({ processes }, 'scorer primary: starting the scorer processes');
  for (let i = 0; i < processes; i++) fork(i);
}

/**
 * In a cluster worker: GET /metrics answers the sum over every scorer process (counters and histograms
 * add up; gauges that describe a state, not a load, take the maximum: see ScorerMetrics), and
 * `GET /metrics?scope=process` this process's own registry.
 */
export function serveClusterMetrics(fastify: FastifyInstance, registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // answers the primary's requests for this process's metrics
  const waiting = new Map<number, (a: MetricsAnswer) => void>();
  let nextId = 0;
  process.on('message', (m: { type?: string }) => {
    if (m?.type !== METRICS_ANSWER) return;
    const a = m as MetricsAnswer;
    waiting.get(a.id)?.(a);
    waiting.delete(a.id);
  });
  const aggregate = () =>
    new Promise<MetricsAnswer>((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve({ type: METRICS_ANSWER, id, error: 'the primary did not answer within 5 s' });
      }, 5000);
      waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      process.send!({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
    });

  fastify.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || !request.url.startsWith('/metrics')) return;
    const [path, query = ''] = request.url.split('?');
    if (path !== '/metrics' || new URLSearchParams(query).get('scope') === 'process') return;
    const a = await aggregate();
    if (a.text === undefined) {
      await reply.status(503).send({ message: `metrics of the scorer processes: ${a.error}` });
      return reply;
    }
    await reply.header('content-type', registry.contentType).send(a.text);
    return reply;
  });
}
