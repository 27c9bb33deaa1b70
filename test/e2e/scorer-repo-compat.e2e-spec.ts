// The scorer and the running feature repository, against the real stack: requests are validated from
// the repository's context attributes (400s naming the attribute; a test copy of the demo repository
// makes one required), and a registered model that reads features the repository cannot supply is
// refused while the previous version keeps answering.
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ARTIFACT_REPO_FILE, DEFAULT_FEATURE_REPO_PATH, REPO_FILE } from '@mmctr/feature-repo';
import {
  REPO,
  registerModel,
  scorerSuite,
  testModel,
  waitFor,
} from '../../apps/scorer/test/support/scorer-harness';
import { uniqueName } from '../support/clients';

const WORK = join(REPO, '.cache', 'scorer-test-models', uniqueName('repo-compat'));

/** The demo repository with `device` required (a test copy in its own folder). */
async function demoWithRequiredDevice(): Promise<string> {
  const doc = JSON.parse(await readFile(join(DEFAULT_FEATURE_REPO_PATH, REPO_FILE), 'utf8')) as {
    context: { attributes: Record<string, unknown>[] };
  };
  const device = doc.context.attributes.find((a) => a.name === 'device')!;
  device.required = true;
  delete device.default;
  const dir = join(WORK, 'demo-required-device');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, REPO_FILE), JSON.stringify(doc));
  return dir;
}

/** A copy of a model folder whose feature_repo.json records a repository with `features`. */
async function recordingModel(from: string, features: string[]): Promise<string> {
  const dir = join(WORK, uniqueName('recorded'));
  await cp(from, dir, { recursive: true });
  const trained = { name: 'ad_platform', version: 'ads-1', features: features.map((name) => ({ name })) };
  await writeFile(join(dir, ARTIFACT_REPO_FILE), JSON.stringify(trained));
  return dir;
}

describe('scorer and the running feature repository (real registry, Redis, Kafka)', () => {
  const suite = scorerSuite({}, { closeAfterEach: true });
  let model: string;

  beforeAll(async () => {
    model = await testModel('repo-compat', 1);
    await registerModel(suite.env.ch, 'rc-v1', model, 'production');
  });

  afterAll(() => rm(WORK, { recursive: true, force: true }));

  it('answers 400 naming the attribute for a wrong type, a doubled or an unknown one (demo repository)', async () => {
    const scorer = await suite.start();
    await scorer.waitServing('rc-v1');
    const cases: [unknown, string][] = [
      [
        { user_id: 'u1', context: { country: 49 }, candidates: [{ item_id: 'i1' }] },
        "/context/country must be string: attribute 'country' expects string, got number 49",
      ],
      [
        { user_id: 'u1', candidates: [{ item_id: 'i1', position: 'top' }] },
        `/candidates/0/position must be integer: attribute 'position' expects int, got string "top"`,
      ],
      [
        { user_id: 'u1', device: 'ios', context: { device: 'web' }, candidates: [{ item_id: 'i1' }] },
        "attribute 'device' is given both at the top level and under context",
      ],
      [
        { user_id: 'u1', browser: 'x', candidates: [{ item_id: 'i1' }] },
        "body has unknown property 'browser'",
      ],
    ];
    for (const [body, message] of cases) {
      const res = await scorer.score<{ message: string }>(body);
      expect({ status: res.status, message: res.body.message }).toEqual({ status: 400, message });
    }
    // The demo's request format, and its request attributes at the top level, still score.
    const top = await scorer.score({ user_id: 'u1', device: 'ios', candidates: [{ item_id: 'i1' }] });
    expect(top.status).toBe(200);
    const docs = (await (await fetch(`${scorer.url}/docs-json`)).json()) as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
    };
    const schema = docs.paths['/v1/score']!.post.requestBody.content['application/json']!.schema as {
      properties: Record<string, unknown>;
    };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['user_id', 'device', 'placement', 'country', 'context', 'candidates']),
    );
  });

  it('answers 400 naming a required context attribute that is missing (repository copy)', async () => {
    const scorer = await suite.start({ FEATURE_REPO: await demoWithRequiredDevice() });
    await scorer.waitServing('rc-v1');
    const missing = await scorer.score<{ message: string }>({
      user_id: 'u1',
      candidates: [{ item_id: 'i1' }],
    });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toBe("attribute 'device' is required (at the top level or under context)");
    const given = await scorer.score({
      user_id: 'u1',
      context: { device: 'ios' },
      candidates: [{ item_id: 'i1' }],
    });
    expect(given.status).toBe(200);
  });

  it('refuses a newer model whose features the repository cannot supply and keeps answering with the previous one', async () => {
    const scorer = await suite.start();
    await scorer.waitServing('rc-v1');
    const dir = await recordingModel(model, ['user_id', 'ad_campaign', 'device', 'creative_vec']);
    await registerModel(suite.env.ch, 'rc-v2', dir, 'production');
    await registerModel(suite.env.ch, 'rc-v1', model, 'retired');
    const reason =
      'model rc-v2: the running feature repository demo fs-2 cannot supply features: ad_campaign, creative_vec';
    const skipped = await waitFor('rc-v2 refused', async () => {
      const [line] = scorer.logged('model version skipped').filter((l) => l.version === 'rc-v2');
      return line;
    });
    expect(skipped).toMatchObject({ version: 'rc-v2', reason, serving: 'rc-v1' });
    const ready = (await scorer.ready()).body;
    expect(ready).toMatchObject({ model_version: 'rc-v1', refused_models: [{ version: 'rc-v2', reason }] });
    expect(await scorer.metrics()).toMatch(/mmctr_scorer_model_loads_total\{result="incompatible"\} 1\n/);
    const res = await scorer.score({ user_id: 'u1', candidates: [{ item_id: 'i1' }, { item_id: 'i2' }] });
    expect(res.status).toBe(200);
    expect(res.body.model_version).toBe('rc-v1');
  });
});
