import type { InferenceSession } from 'onnxruntime-node';
import { demoLayout } from '../../test/support/test-layout';
import { firstDifference, IdBuffer, InputBuffers, signatureMismatch, stackFeeds } from './onnx-model';

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

describe('stackFeeds (the batch graph: several requests in one run)', () => {
  it("stacks the requests' request-side rows and concatenates their candidates, with cand_user", () => {
    const layout = demoLayout(2);
    const job = (value: number, batch: number) => {
      const buffers = new InputBuffers(layout.inputs, 4);
      buffers.data.forEach((d) => (d instanceof IdBuffer ? d.fill(value, 0, d.data.length) : d.fill(value)));
      return { buffers, batch };
    };
    const feeds = stackFeeds([job(1, 2), job(2, 3)], layout.inputs);
    expect(Object.entries(feeds).map(([n, t]) => [n, t.dims])).toEqual([
      ['user_cat', [2, 5]],
      ['hist_cat', [2, 64, 2]],
      ['hist_multi', [2, 64, 5]],
      ['hist_vec', [2, 64, 2]],
      ['hist_age', [2, 64]],
      ['cand_cat', [5, 3]],
      ['cand_multi', [5, 5]],
      ['cand_vec', [5, 2]],
      ['cand_user', [5]],
    ]);
    const values = (name: string) => Array.from(feeds[name]!.data as ArrayLike<number | bigint>, Number);
    expect(values('user_cat')).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect(values('cand_cat')).toEqual([...Array<number>(6).fill(1), ...Array<number>(9).fill(2)]);
    expect(values('cand_vec')).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    expect(values('cand_user')).toEqual([0, 0, 1, 1, 1]);
  });
});
