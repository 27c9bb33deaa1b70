// Test doubles for the scorer's model layer (unit specs only): a model whose outputs a function
// decides, with the demo repository's layout and real input buffers, so warm-up and encoding run unchanged.
import { InputBuffers, type OnnxModel } from '../../src/model/onnx-model';
import { demoLayout } from './test-layout';

export type FakeModel = OnnxModel & { wasRetired: boolean; runs: number };

/** A model version whose CTRs are `answer(buffers, batch)`; tracks runs and retirement. */
export function fakeModel(
  version: string,
  answer: (buffers: InputBuffers, batch: number) => number[],
  capacity = 64,
  layout = demoLayout(),
): FakeModel {
  const model = {
    version,
    dir: `/models/${version}`,
    layout,
    capacity,
    microBatching: false,
    wasRetired: false,
    runs: 0,
    acquireBuffers: () => new InputBuffers(layout.inputs, capacity),
    releaseBuffers: () => undefined,
    run: (buffers: InputBuffers, batch: number) => {
      model.runs++;
      return Promise.resolve(Float32Array.from(answer(buffers, batch)));
    },
    runAlone: (buffers: InputBuffers, batch: number) => model.run(buffers, batch),
    enter: () => () => undefined,
    retire: () => {
      model.wasRetired = true;
    },
  };
  return model as unknown as FakeModel;
}

/** CTRs that are NaN for every candidate with a non-zero vector, 0.1 otherwise. */
export const nanOnVector = (buffers: InputBuffers, batch: number): number[] => {
  const k = buffers.inputs.findIndex((i) => i.name === 'cand_vec');
  const D = buffers.inputs[k]!.rowSize;
  const vec = buffers.values(k);
  return Array.from({ length: batch }, (_, b) =>
    vec.subarray(b * D, (b + 1) * D).some((v) => v !== 0) ? NaN : 0.1,
  );
};
