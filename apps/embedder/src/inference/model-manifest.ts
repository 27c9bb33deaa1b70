import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ManifestFile {
  path: string;
  sha256: string;
}
interface ManifestEncoder {
  name: string;
  version: string;
  dim: number;
  files: Record<string, ManifestFile>;
}

export interface EncoderInfo {
  /** What item_embeddings records: name@version#model-sha-prefix (changes when the weights do). */
  id: string;
  dim: number;
  modelPath: string;
}

export interface ModelSet {
  dir: string;
  image: EncoderInfo;
  text: EncoderInfo & { tokenizerPath: string; maxTokens: number };
}

/** Reads .cache/models/manifest.json (written by scripts/setup-models.sh). */
export function readModelSet(dir: string): ModelSet {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file))
    throw new Error(`no model manifest at ${file}: run scripts/setup-models.sh (or set EMBEDDER_MODELS_DIR)`);
  const m = JSON.parse(readFileSync(file, 'utf8')) as {
    encoders: { image: ManifestEncoder; text: ManifestEncoder & { max_tokens?: number } };
  };
  const info = (e: ManifestEncoder): EncoderInfo => {
    const model = e.files.model;
    if (!model) throw new Error(`model manifest ${file}: encoder ${e.name} lists no model file`);
    const modelPath = join(dir, model.path);
    if (!existsSync(modelPath)) throw new Error(`${modelPath} is missing: run scripts/setup-models.sh`);
    return { id: `${e.name}@${e.version}#${model.sha256.slice(0, 12)}`, dim: e.dim, modelPath };
  };
  const tokenizer = m.encoders.text.files.tokenizer;
  if (!tokenizer) throw new Error(`model manifest ${file}: the text encoder lists no tokenizer`);
  return {
    dir,
    image: info(m.encoders.image),
    text: {
      ...info(m.encoders.text),
      tokenizerPath: join(dir, tokenizer.path),
      maxTokens: m.encoders.text.max_tokens ?? 128,
    },
  };
}
