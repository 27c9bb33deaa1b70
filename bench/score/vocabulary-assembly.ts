// The scorer's feature assembly of 500 candidates with hashed categoricals (how fitted features were
// served before exact vocabularies: the bucket, mapped to its row inside the graph) against exact
// vocabularies (a per-process value id, mapped to the model's rows by ModelVocabularies before
// inference), alternately in one run, on the demo layout with user_id, item_id and category fitted.
// Also: the time to load the model's vocabulary.json and the size of that file.
//   node -r ./scripts/register.js bench/score/vocabulary-assembly.ts [--requests 300] [--items 50000]
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_FEATURE_REPO_PATH, REPO_FILE, parseFeatureRepo } from '@mmctr/feature-repo';
import { valueKey } from '@mmctr/features';
import { percentile } from '@mmctr/observability';
import {
  ItemCache,
  ModelVocabularies,
  ServingLayout,
  VOCABULARY_FILE,
  type AssemblyInput,
} from '@mmctr/scorer';
import { numberArg } from '../support/cli-args';
import { log } from '../support/log';
import { assemblySide, drawRequests, msSince, seededDraws } from './lib/assembly-bench';

const B = 500;
const REQUESTS = numberArg('requests', 300);
/** The users and items the requests are drawn from, every one in the vocabulary. */
const POPULATION = { users: 20_000, items: numberArg('items', 50_000) };
const CATEGORIES = 200;
const FITTED = ['user_id', 'item_id', 'category'];

const { pick } = seededDraws(11);
const category = (i: number) => `c${i % CATEGORIES}`;

function layoutOf(fit: boolean): ServingLayout {
  const doc = JSON.parse(readFileSync(join(DEFAULT_FEATURE_REPO_PATH, REPO_FILE), 'utf8')) as {
    features: { name: string; fit?: unknown }[];
  };
  if (fit) for (const f of doc.features) if (FITTED.includes(f.name)) f.fit = { min_count: 1 };
  return new ServingLayout(parseFeatureRepo(doc, fit ? 'demo-fitted' : 'demo'));
}

const side = (layout: ServingLayout) =>
  assemblySide(layout, POPULATION.items, B, (i) => ({ category: category(i), tags: ['t1', 't2'] }));

/** A trained model's vocabulary.json for the fitted layout: every user, item and category (all seen in training). */
function vocabularyDir(layout: ServingLayout): string {
  const values: Record<string, string[]> = {
    user_id: Array.from({ length: POPULATION.users }, (_, i) => `u${i}`),
    item_id: Array.from({ length: POPULATION.items }, (_, i) => `i${i}`),
    category: Array.from({ length: CATEGORIES }, (_, i) => `c${i}`),
  };
  const l = layout.layout;
  const groups = [
    { prefix: 'user', g: l.user },
    { prefix: 'cand', g: l.candidate },
    ...l.sequences.map((s) => ({ prefix: s.name, g: s })),
  ];
  const features = Object.fromEntries(
    FITTED.map((f) => {
      const inputs = groups.flatMap(({ prefix, g }) =>
        g.categorical.flatMap((s, column) => (s.feature === f ? [{ input: `${prefix}_cat`, column }] : [])),
      );
      const keys = values[f]!.map((v) => valueKey(f, v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return [f, { field: f, inputs, keys: keys.map(String) }];
    }),
  );
  const dir = mkdtempSync(join(tmpdir(), 'mmctr-bench-vocab-'));
  writeFileSync(join(dir, VOCABULARY_FILE), JSON.stringify({ format: 'mmctr-vocabulary-1', features }));
  return dir;
}

function input(
  cache: ItemCache,
  userId: string,
  ids: string[],
  history: string[],
  tsMs: number,
): AssemblyInput {
  return {
    userId,
    context: { device: 'mobile', placement: 'feed', country: 'DE' },
    tsMs,
    sequences: [
      {
        ids: history,
        rows: Int32Array.from(history, (id) => cache.row(id)),
        tsMs: history.map((_, k) => tsMs - 60_000 * (k + 1)),
      },
    ],
    candidateIds: ids,
    candidateRows: Int32Array.from(ids, (id) => cache.row(id)),
    candidateContext: { position: ids.map((_, i) => i) },
  };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return {
    p50: Number(percentile(s, 50).toFixed(4)),
    p99: Number(percentile(s, 99).toFixed(4)),
    mean: Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(4)),
  };
};

async function main(): Promise<void> {
  const hashed = side(layoutOf(false));
  const exact = side(layoutOf(true));
  const dir = vocabularyDir(exact.layout);
  const loads: number[] = [];
  let vocab: ModelVocabularies | undefined;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    vocab = await ModelVocabularies.load(dir, exact.layout);
    loads.push(msSince(t0));
  }
  const vocabularyBytes = statSync(join(dir, VOCABULARY_FILE)).size;
  rmSync(dir, { recursive: true, force: true });
  const requests = drawRequests(pick, POPULATION, REQUESTS, B, 64);
  const tsMs = Date.now();
  const times = { hashed: [] as number[], exact: [] as number[], first: [] as number[] };
  for (let pass = 0; pass < 2; pass++) {
    for (const r of requests) {
      let t0 = process.hrtime.bigint();
      hashed.assembler.assemble(
        hashed.cache,
        hashed.buffers,
        input(hashed.cache, r.user, r.ids, r.history, tsMs),
      );
      const h = msSince(t0);
      t0 = process.hrtime.bigint();
      exact.assembler.assemble(
        exact.cache,
        exact.buffers,
        input(exact.cache, r.user, r.ids, r.history, tsMs),
      );
      vocab!.rows(exact.buffers, B);
      const e = msSince(t0);
      // The first pass meets most values for the first time (the id -> row tables fill); the second is steady.
      if (pass === 0) times.first.push(e);
      else {
        times.hashed.push(h);
        times.exact.push(e);
      }
    }
  }
  const [h, e] = [stats(times.hashed), stats(times.exact)];
  const out = {
    candidates: B,
    requests: REQUESTS,
    items: POPULATION.items,
    fitted: FITTED,
    hashed_ms: h,
    exact_ms: e,
    exact_first_pass_ms: stats(times.first),
    ratio_p50: Number((e.p50 / h.p50).toFixed(3)),
    ratio_mean: Number((e.mean / h.mean).toFixed(3)),
    vocabulary_json_bytes: vocabularyBytes,
    vocabulary_values: POPULATION.users + POPULATION.items + CATEGORIES,
    vocabulary_load_ms: stats(loads),
    load_average: loadavg()[0],
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

main().catch((err) => {
  log((err as Error).stack ?? String(err));
  process.exit(1);
});
