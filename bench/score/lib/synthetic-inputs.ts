// Synthetic model inputs of a layout for the scoring benches: ids spread over each slot's range (no
// padding), float values from a deterministic wave. Sequences are full.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InputGroup, ModelLayout } from '@mmctr/feature-repo';

export interface SyntheticInput {
  name: string;
  dtype: 'int64' | 'float32';
  shape: number[];
  data: BigInt64Array | Float32Array;
}

/** The layout an artifact folder was exported for (its layout.json). */
export const artifactLayout = (dir: string): ModelLayout =>
  JSON.parse(readFileSync(join(dir, 'layout.json'), 'utf8')) as ModelLayout;

/** The id range of each column of a group's `kind` input. */
function columnSizes(g: InputGroup, kind: string): number[] {
  if (kind === 'cat') return g.categorical.map((s) => s.size);
  if (kind === 'multi') return g.multi_categorical.flatMap((s) => Array<number>(s.max_length).fill(s.size));
  return [];
}

/**
 * Every input of `layout` for one request of `batch` candidates; `seed` shifts the ids and values so
 * that requests differ.
 */
export function syntheticInputs(layout: ModelLayout, batch: number, seed = 0): SyntheticInput[] {
  const groups: Record<string, InputGroup> = { user: layout.user, cand: layout.candidate };
  for (const s of layout.sequences) groups[s.name] = s;
  return layout.inputs.map((input) => {
    const shape = input.shape.map((d) => (d === 'B' ? batch : d === 'Bu' ? 1 : Number(d)));
    const size = shape.reduce((n, d) => n * d, 1);
    if (input.dtype === 'float32')
      return {
        ...input,
        shape,
        data: Float32Array.from({ length: size }, (_, i) => Math.sin(i + seed) * 0.2),
      };
    const cut = input.name.lastIndexOf('_');
    const [prefix, kind] = [input.name.slice(0, cut), input.name.slice(cut + 1)];
    const seq = layout.sequences.find((s) => s.name === prefix);
    const sizes = kind === 'age' ? [seq!.age!.boundaries_ms.length + 2] : columnSizes(groups[prefix]!, kind);
    const width = sizes.length;
    const data = BigInt64Array.from({ length: size }, (_, i) => {
      const n = sizes[i % width]!;
      return BigInt(1 + ((Math.floor(i / width) * 7919 + i + 13 + seed * 31) % (n - 1)));
    });
    return { ...input, shape, data };
  });
}
