import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import { loadFeatureSpec } from '@mmctr/features';
import type { ScorerConfig } from '../config/scorer-config';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { IncompatibleModelError, ModelLoader } from './model-loader';

const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
const legacy = loadFeatureSpec();

describe('ModelLoader: features the running repository must supply', () => {
  let dir: string;
  const loader = new ModelLoader(
    {
      SCORER_MODEL_FILE: 'model.onnx',
      SCORER_MICRO_BATCH: false,
      SCORER_INTRA_OP_THREADS: 1,
      SCORER_INTER_OP_THREADS: 1,
      SCORER_EXECUTION_PROVIDER: 'cpu',
    } as unknown as ScorerConfig,
    new ScorerMetrics(),
    {} as Logger,
    demo,
  );
  /** An artifact folder holding only a feature spec: the check comes before any session opens. */
  const artifact = (spec: object) => writeFile(join(dir, 'feature_spec.json'), JSON.stringify(spec));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-loader-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('refuses an artifact recording features the repository does not define, naming them', async () => {
    await artifact({
      ...legacy,
      feature_repo: { name: 'ads', version: 'a1', features: ['user_id', 'ad_id', 'slot'] },
    });
    const err = (await loader.load('v7', dir).catch((e: unknown) => e)) as IncompatibleModelError;
    expect(err).toBeInstanceOf(IncompatibleModelError);
    expect(err.message).toBe(
      'model v7: the running feature repository demo fs-2 cannot supply features: ad_id, slot',
    );
    expect(err.missing).toEqual(['ad_id', 'slot']);
  });

  it('goes on to open the graph when every feature is supplied (legacy and recorded specs)', async () => {
    for (const spec of [
      legacy,
      { ...legacy, feature_repo: { name: 'demo', version: 'fs-2', features: ['hist'] } },
    ]) {
      await artifact(spec);
      const err = await loader.load('v8', dir).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(IncompatibleModelError);
      expect((err as Error).message).toMatch(/model\.onnx/); // the folder has no graph
    }
  });
});
