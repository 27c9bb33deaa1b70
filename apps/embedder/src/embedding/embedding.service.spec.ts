import type { ItemFeatures } from '@mmctr/online-store';
import type { ImageLoader } from '../image/image-loader';
import type { ModelSet } from '../inference/model-manifest';
import type { ProjectionStore } from '../projection/projection-store';
import type { EmbeddingRepository, EmbeddingRow } from '../storage/embedding.repository';
import type { MmVectorRepository } from '../storage/mm-vector.repository';
import { EmbeddingService, type VectorEncoder } from './embedding.service';

/** A text encoder whose calls finish when the test says so. */
class ControlledEncoder implements VectorEncoder {
  readonly pending: (() => void)[] = [];
  image(): Promise<Float32Array> {
    return Promise.reject(new Error('no images here'));
  }
  text(): Promise<Float32Array> {
    return new Promise((resolve) => this.pending.push(() => resolve(new Float32Array([1, 0]))));
  }
}

const item = (id: string): ItemFeatures => ({
  item_id: id,
  ts_ms: 1,
  title: `title ${id}`,
  description: '',
  category: 'c',
  tags: [],
  image: '',
  content_hash: `h-${id}`,
});

describe('EmbeddingService', () => {
  it('asks for an immediate insert only once every job in progress waits on one', async () => {
    const encoder = new ControlledEncoder();
    const flushNow: boolean[] = [];
    const embeddings = {
      store: (_row: EmbeddingRow, now: boolean) => {
        flushNow.push(now);
        return Promise.resolve();
      },
    } as unknown as EmbeddingRepository;
    const mm = {
      hasNewer: () => Promise.resolve(false),
      write: (entries: unknown[]) => Promise.resolve(entries.map(() => true)),
    } as unknown as MmVectorRepository;
    const models = { image: { id: 'img' }, text: { id: 'txt' } } as unknown as ModelSet;
    const service = new EmbeddingService(
      models,
      {} as ImageLoader,
      encoder,
      { current: () => null } as unknown as ProjectionStore,
      embeddings,
      mm,
      { maxPixels: 1_000 },
    );
    const a = service.embed(item('a'));
    const b = service.embed(item('b'));
    while (encoder.pending.length < 2) await new Promise((r) => setImmediate(r));
    encoder.pending[0]!(); // a is encoded while b is still in inference: a's row may wait for b's
    while (flushNow.length < 1) await new Promise((r) => setImmediate(r));
    encoder.pending[1]!(); // b is the last job in progress: nothing else can join its insert
    await expect(Promise.all([a, b])).resolves.toEqual(['stored', 'stored']);
    expect(flushNow).toEqual([false, true]);
  });
});
