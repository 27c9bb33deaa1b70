import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import { IMAGE_SIZE, PIXELS_PER_IMAGE } from '../image/image-preprocess';
import { truncateIds } from '../text/item-text';
import type { ModelSet } from './model-manifest';
import { l2Normalize, meanPool } from './pooling';

/**
 * How texts reach the text encoder: one run per text (its vector never depends on other texts), or one
 * run per batch, padded to the longest (faster, but with a dynamically quantized encoder such as the
 * default int8 MiniLM, a text's vector then depends on the texts batched with it).
 */
export type TextRuns = 'per-text' | 'batched';

/**
 * The two ONNX encoders. Used inside the inference worker threads, and directly by the benchmark's
 * plain loop. Every returned vector is L2-normalised.
 */
export class Encoders {
  private constructor(
    private readonly image: ort.InferenceSession,
    private readonly text: ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly sepId: number,
    private readonly maxTokens: number,
    private readonly textRuns: TextRuns,
  ) {}

  static async load(
    models: ModelSet,
    intraOpThreads: number,
    textRuns: TextRuns = 'per-text',
  ): Promise<Encoders> {
    const opts: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    };
    const [image, text] = await Promise.all([
      ort.InferenceSession.create(models.image.modelPath, opts),
      ort.InferenceSession.create(models.text.modelPath, opts),
    ]);
    const tokenizer = new Tokenizer(
      JSON.parse(readFileSync(models.text.tokenizerPath, 'utf8')) as object,
      {},
    );
    const sepId = tokenizer.token_to_id('[SEP]');
    if (sepId === undefined) throw new Error('tokenizer has no [SEP] token');
    return new Encoders(image, text, tokenizer, sepId, models.text.maxTokens, textRuns);
  }

  /** `pixels` holds `count` RGB 224x224 images back to back (NHWC uint8). */
  async encodeImages(pixels: Uint8Array, count: number): Promise<Float32Array[]> {
    if (pixels.length !== count * PIXELS_PER_IMAGE) throw new Error('encodeImages: wrong pixel buffer size');
    const input = new ort.Tensor('uint8', pixels, [count, IMAGE_SIZE, IMAGE_SIZE, 3]);
    const out = await this.image.run({ pixels: input });
    const features = out.features!;
    const data = features.data as Float32Array;
    const dim = features.dims[1]!;
    const rows: Float32Array[] = [];
    for (let i = 0; i < count; i++) rows.push(l2Normalize(data.slice(i * dim, (i + 1) * dim)));
    for (const t of Object.values(out)) t.dispose();
    return rows;
  }

  tokenize(text: string): number[] {
    return truncateIds(this.tokenizer.encode(text).ids, this.maxTokens, this.sepId);
  }

  /**
   * Tokenizes (max 128 tokens), runs MiniLM and mean-pools over the mask, in runs as `textRuns` says.
   * Per text by default: the int8 graph quantizes its activations with a scale computed over the whole
   * run, so batched texts (padded to the longest) would get vectors that depend on each other; one run
   * each costs 5–9 % of the throughput (bench/embed/text-batching.ts).
   */
  async encodeTexts(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.textRuns === 'batched') return this.runTexts(texts);
    const rows: Float32Array[] = [];
    for (const text of texts) rows.push(...(await this.runTexts([text])));
    return rows;
  }

  /** One run of the text encoder over `texts`, padded to the longest. */
  private async runTexts(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const seqs = texts.map((t) => this.tokenize(t));
    const batch = seqs.length;
    const tokens = Math.max(...seqs.map((s) => s.length));
    const ids = new BigInt64Array(batch * tokens);
    const mask = new BigInt64Array(batch * tokens);
    seqs.forEach((s, b) =>
      s.forEach((id, t) => {
        ids[b * tokens + t] = BigInt(id);
        mask[b * tokens + t] = 1n;
      }),
    );
    const dims = [batch, tokens];
    const out = await this.text.run({
      input_ids: new ort.Tensor('int64', ids, dims),
      attention_mask: new ort.Tensor('int64', mask, dims),
      // BERT segment ids: one segment, all zeros.
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(batch * tokens), dims),
    });
    const hidden = out.last_hidden_state!;
    const dim = hidden.dims[2]!;
    const rows = meanPool(hidden.data as Float32Array, mask, batch, tokens, dim).map((r) => l2Normalize(r));
    for (const t of Object.values(out)) t.dispose();
    return rows;
  }

  async release(): Promise<void> {
    await Promise.all([this.image.release(), this.text.release()]);
  }
}
