// EMBEDDER_TEXT_RUNS: the text encoder is int8 with dynamic quantization, each run computing its
// activations' scale over the whole input, so a text's vector depends on the texts run beside it (and
// on their padding). This measures, in one process with a session of 1 intra-op thread per side (as each
// service session), batches of --batch texts encoded in one run (`batched`) against one run per text
// (`per-text`, the default), alternating rounds: texts/s, and how far a text's vector moves between the
// two and between two batchings of the same texts.
//   node -r ./scripts/register.js bench/embed/text-batching.ts [--texts 1000] [--batch 16] [--rounds 5]
// Needs the models (scripts/setup-models.sh); no stack.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CatalogueItem } from '@mmctr/contracts';
import { Encoders, itemText, readModelSet } from '@mmctr/embedder';
import { generate, readJsonl, SMALL_PRESET } from '@mmctr/synth';
import { numberArg } from '../support/cli-args';
import { REPO_ROOT } from '../support/repo';
import { runMainThenExit } from '../support/run-main';

const TEXTS = numberArg('texts', 1000);
const BATCH = numberArg('batch', 16);
const ROUNDS = numberArg('rounds', 5);

/** Vectors of `texts` encoded `size` at a time, starting with a first group of `first` (0: size). */
async function encodeInGroups(
  enc: Encoders,
  texts: string[],
  size: number,
  first = 0,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0, n = first || size; i < texts.length; i += n, n = size)
    out.push(...(await enc.encodeTexts(texts.slice(i, i + n))));
  return out;
}

const maxAbsDiff = (a: Float32Array[], b: Float32Array[]) => {
  let max = 0;
  let moved = 0;
  a.forEach((v, i) => {
    let m = 0;
    v.forEach((x, j) => (m = Math.max(m, Math.abs(x - b[i]![j]!))));
    if (m > 0) moved++;
    max = Math.max(max, m);
  });
  return { max, moved };
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mmctr-text-batching-'));
  try {
    await generate({ ...SMALL_PRESET, items: { count: TEXTS } }, { outDir: dir });
    const texts = readJsonl<CatalogueItem>(join(dir, 'items.jsonl')).map((i) => itemText(i));
    const models = readModelSet(join(REPO_ROOT, '.cache', 'models'));
    const enc = {
      batched: await Encoders.load(models, 1, 'batched'),
      'per-text': await Encoders.load(models, 1),
    };
    const sides = ['batched', 'per-text'] as const;
    for (const side of sides) await enc[side].encodeTexts(texts.slice(0, BATCH)); // warm-up, untimed

    const seconds: Record<(typeof sides)[number], number[]> = { batched: [], 'per-text': [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const side of r % 2 ? [...sides].reverse() : sides) {
        const t = performance.now();
        await encodeInGroups(enc[side], texts, BATCH);
        seconds[side].push((performance.now() - t) / 1000);
      }
    }
    const shift = Math.ceil(BATCH / 2);
    const batched = await encodeInGroups(enc.batched, texts, BATCH);
    const batchedShifted = await encodeInGroups(enc.batched, texts, BATCH, shift);
    const perText = await encodeInGroups(enc['per-text'], texts, BATCH);
    const perTextShifted = await encodeInGroups(enc['per-text'], texts, BATCH, shift);
    await Promise.all(sides.map((side) => enc[side].release()));

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const rate = (side: (typeof sides)[number]) => TEXTS / median(seconds[side]);
    const line = (name: string, d: { max: number; moved: number }) =>
      `  ${name}: ${d.moved} of ${TEXTS} vectors differ, max |Δ| per element ${d.max.toPrecision(3)}`;
    console.log(
      [
        `text encoder, ${TEXTS} synthetic item texts asked ${BATCH} at a time, 1 intra-op thread, ` +
          `${ROUNDS} alternating rounds (median)`,
        `  batched: ${rate('batched').toFixed(1)} texts/s (baseline)`,
        `  per-text: ${rate('per-text').toFixed(1)} texts/s -> ${(rate('per-text') / rate('batched')).toFixed(2)} x batched`,
        line(`batched, batches shifted by ${shift} texts`, maxAbsDiff(batched, batchedShifted)),
        line(`per-text, batches shifted by ${shift} texts`, maxAbsDiff(perText, perTextShifted)),
        line('batched vs per-text', maxAbsDiff(batched, perText)),
      ].join('\n'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runMainThenExit(main);
