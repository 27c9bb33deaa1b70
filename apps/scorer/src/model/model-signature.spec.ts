import type { InferenceSession } from 'onnxruntime-node';
import { demoLayout } from '../../test/support/test-layout';
import { firstDifference, signatureMismatch } from './onnx-model';

type Meta = InferenceSession.ValueMetadata;

describe("a model's inputs against the running repository's layout", () => {
  const layout = demoLayout();
  /** The metadata of a graph exported for the layout (batch dims symbolic). */
  const exported = (): Meta[] =>
    layout.inputs.map((i) => ({
      name: i.name,
      isTensor: true,
      type: i.dtype,
      shape: [i.side === 'candidate' ? 'B' : 1, ...i.rowShape],
    }));

  it('accepts exactly the layout inputs, batch dimensions symbolic or fixed', () => {
    expect(signatureMismatch(exported(), layout.inputs)).toBeUndefined();
    const dynamic = exported().map((m) => (m.isTensor ? { ...m, shape: ['Bu', ...m.shape.slice(1)] } : m));
    expect(signatureMismatch(dynamic, layout.inputs)).toBeUndefined();
  });

  it('names the missing, the extra, the mistyped, the misshaped input and a wrong order', () => {
    const without = exported().filter((m) => m.name !== 'hist_age');
    expect(signatureMismatch(without, layout.inputs)).toBe('lacks input hist_age (int64 [Bu, 64])');
    const old = [
      ...exported(),
      { name: 'user_fields', isTensor: true, type: 'int64', shape: [1, 5] } as Meta,
    ];
    expect(signatureMismatch(old, layout.inputs)).toBe(
      "has input user_fields, which the feature repository's layout does not feed",
    );
    const typed = exported().map((m) => (m.name === 'cand_vec' ? ({ ...m, type: 'float64' } as Meta) : m));
    expect(signatureMismatch(typed, layout.inputs)).toBe(
      'input cand_vec is float64 [B, 128]; the layout feeds float32 [B, 128]',
    );
    const shaped = exported().map((m) => (m.name === 'hist_cat' ? ({ ...m, shape: [1, 64, 3] } as Meta) : m));
    expect(signatureMismatch(shaped, layout.inputs)).toBe(
      'input hist_cat is int64 [1, 64, 3]; the layout feeds int64 [Bu, 64, 2]',
    );
    const swapped = exported().reverse();
    expect(signatureMismatch(swapped, layout.inputs)).toMatch(/^takes its inputs in the order cand_vec, /);
  });

  it('finds the first differing path of two layouts', () => {
    const a = { user: { categorical: [{ size: 64 }, { size: 8 }] }, inputs: [1] };
    expect(firstDifference(a, JSON.parse(JSON.stringify(a)))).toBeUndefined();
    expect(firstDifference(a, { ...a, user: { categorical: [{ size: 64 }, { size: 9 }] } })).toBe(
      'user.categorical[1].size',
    );
    expect(firstDifference(a, { ...a, extra: true })).toBe('extra');
  });
});
