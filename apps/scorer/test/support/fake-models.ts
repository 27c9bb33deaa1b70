// Test doubles for the scorer's model layer (unit specs only): a model whose outputs a function
// decides, with the real feature spec and input buffers, so warm-up and encoding run unchanged.
import { loadFeatureSpec } from '@mmctr/features';
import { InputBuffers, type ModelDims, type OnnxModel } from '../../src/model/onnx-model';

export type FakeModel = OnnxModel & { wasRetired: boolean; runs: number };

/** A model version whose CTRs are `answer(buffers, batch)`; tracks runs and retirement. */
export function fakeModel(
  version: string,
  answer: (buffers: InputBuffers, batch: number) => number[],
  capacity = 64,
): FakeModel {
  const spec = loadFeatureSpec();
  const dims: ModelDims = {
    U: spec.user_fields.length,
    L: spec.history.length,
    C: spec.candidate_fields.length,
    D: spec.multimodal.dim,
  };
  const model = {
    version,
    dir: `/models/${version}`,
    spec,
    dims,
    capacity,
    takesAge: false,
    microBatching: false,
    wasRetired: false,
    runs: 0,
    acquireBuffers: () => new InputBuffers(dims, capacity),
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
  const D = buffers.dims.D;
  return Array.from({ length: batch }, (_, b) =>
    buffers.candMm.subarray(b * D, (b + 1) * D).some((v) => v !== 0) ? NaN : 0.1,
  );
};
