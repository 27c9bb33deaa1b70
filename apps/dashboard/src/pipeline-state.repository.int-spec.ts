// The dashboard's queue-depth reading against the real Redis: jobs enqueued by the ingest-side producer
// under a non-default BULLMQ_PREFIX and queue name are the ones the dashboard counts.
import { loadConfig, type AppConfig } from '@mmctr/config';
import { createBullRedis, ItemEmbeddingQueue } from '@mmctr/online-store';
import { uniqueName } from '../../../test/support/clients';
import { embeddingJobItem } from '../../../test/support/embedding-job-item';
import { PipelineStateRepository } from './pipeline-state.repository';

describe('PipelineStateRepository.queueDepth', () => {
  const run = uniqueName('dashq').replace(/_/g, '-');
  const config: AppConfig = {
    ...loadConfig(),
    BULLMQ_PREFIX: `bull-test-${run}`,
    EMBEDDINGS_QUEUE: `item-embeddings-${run}`,
  };
  const producerRedis = createBullRedis(config);
  const producer = ItemEmbeddingQueue.fromConfig(producerRedis, config);
  const repo = new PipelineStateRepository(config);

  afterAll(async () => {
    await producer.queue.obliterate({ force: true });
    await producer.close();
    producerRedis.disconnect();
    await repo.onApplicationShutdown();
  });

  it('counts the jobs waiting under a non-default BULLMQ_PREFIX', async () => {
    const item = (i: number) => embeddingJobItem(`${run}-item-${i}`, `h${i}`);
    await producer.enqueue([item(1), item(2), item(3)]);
    // The jobs really are under the custom prefix (and so invisible to a reader using the default).
    expect(await producerRedis.exists(`${config.BULLMQ_PREFIX}:${config.EMBEDDINGS_QUEUE}:wait`)).toBe(1);
    expect(await repo.queueDepth()).toEqual({ waiting: 3, active: 0, delayed: 0, failed: 0, completed: 0 });
  });
});
