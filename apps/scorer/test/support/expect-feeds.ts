// The assembler specs' common check: the scorer's feeds are exactly the training encoder's inputs.
import type { EncodedInputs } from '@mmctr/features';
import type { InputBuffers } from '../../src/model/onnx-model';

const values = (a: ArrayLike<number | bigint>) => Array.from(a, Number);

/** `feeds` has the inputs of `expected`, in its order, each with equal values (named on a mismatch). */
export function expectFeedsEqual(feeds: ReturnType<InputBuffers['feeds']>, expected: EncodedInputs): void {
  expect(Object.keys(feeds)).toEqual(Object.keys(expected));
  for (const [name, want] of Object.entries(expected)) {
    expect({ name, got: values(feeds[name]!.data as ArrayLike<number | bigint>) }).toEqual({
      name,
      got: values(want),
    });
  }
}
