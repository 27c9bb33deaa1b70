import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ARTIFACT_REPO_FILE } from '@mmctr/feature-repo';
import { demoLayout, demoRepo } from '../../test/support/test-layout';
import type { ScorerConfig } from '../config/scorer-config';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { InferencePoolService } from './inference-pool.service';
import { IncompatibleModelError, ModelLoader } from './model-loader';

describe('ModelLoader: the running repository must supply the features and the layout a model was trained on', () => {
  let dir: string;
  const layout = demoLayout();
  const loader = new ModelLoader(
    {
      SCORER_MODEL_FILE: 'model.onnx',
      SCORER_MICRO_BATCH: false,
      SCORER_INTRA_OP_THREADS: 1,
      SCORER_INTER_OP_THREADS: 1,
      SCORER_INFERENCE_WORKERS: 0,
      SCORER_PROCESSES: 1,
      SCORER_EXECUTION_PROVIDER: 'cpu',
    } as unknown as ScorerConfig,
    new ScorerMetrics(),
    {} as Logger,
    layout,
    new InferencePoolService({ SCORER_INFERENCE_WORKERS: 0 } as ScorerConfig, {} as Logger),
  );
  /** An artifact folder holding only its records (no graph): the checks come before any session opens. */
  const write = (file: string, doc: object) => writeFile(join(dir, file), JSON.stringify(doc));
  const trainedWith = (name: string, version: string, features: string[]) =>
    write(ARTIFACT_REPO_FILE, { name, version, features: features.map((f) => ({ name: f })) });
  const loadError = (version: string): Promise<Error> =>
    loader.load(version, dir).then(
      () => new Error('loaded: expected a refusal'),
      (e: unknown) => e as Error,
    );

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-loader-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('refuses an artifact trained with features the repository does not define, naming them', async () => {
    await trainedWith('ad_platform', 'ads-1', ['user_id', 'ad_id', 'slot']);
    const err = (await loadError('v7')) as IncompatibleModelError;
    expect(err).toBeInstanceOf(IncompatibleModelError);
    expect(err.message).toBe(
      'model v7: the running feature repository demo fs-2 cannot supply features: ad_id, slot',
    );
    expect(err.missing).toEqual(['ad_id', 'slot']);
  });

  it('then refuses a model whose layout.json differs from the running layout, naming where', async () => {
    await write(ARTIFACT_REPO_FILE, demoRepo());
    const trained = JSON.parse(JSON.stringify(layout.layout)) as {
      user: { categorical: { size: number }[] };
    };
    trained.user.categorical[0]!.size = 1024;
    await write('layout.json', trained);
    const err = await loadError('v8');
    expect(err).not.toBeInstanceOf(IncompatibleModelError);
    expect(err.message).toBe(
      'model v8 was trained for another layout: layout.json differs from feature repository demo fs-2 at user.categorical[0].size',
    );
  });

  it('goes on to open the graph when the features and the layout match, or the artifact records neither', async () => {
    await write(ARTIFACT_REPO_FILE, demoRepo());
    await write('layout.json', layout.layout);
    expect((await loadError('v9')).message).toMatch(/model\.onnx/); // the folder has no graph
    await rm(join(dir, ARTIFACT_REPO_FILE));
    await rm(join(dir, 'layout.json'));
    expect((await loadError('v10')).message).toMatch(/model\.onnx/);
  });

  it('fails the load naming an unreadable feature_repo.json', async () => {
    await writeFile(join(dir, ARTIFACT_REPO_FILE), '{');
    expect((await loadError('v11')).message).toContain(`${join(dir, ARTIFACT_REPO_FILE)}: not JSON`);
  });
});
