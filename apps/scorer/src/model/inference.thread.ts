// One thread of the inference pool (SCORER_INFERENCE_WORKERS > 0): onnxruntime sessions of its own for
// every loaded version, so a run blocks this thread instead of the request loop.
import { parentPort } from 'node:worker_threads';
import { createSession, ctrOf, graphInfo, tensorsOf } from './model-graphs';
import { serveInference, type ThreadEnd } from './inference-protocol';

serveInference(parentPort as unknown as ThreadEnd, async (path, settings, onFallback) => {
  const session = await createSession(path, settings, onFallback);
  return {
    ...graphInfo(session),
    run: async (inputs) => ctrOf(await session.run(tensorsOf(inputs)), path),
    release: () => session.release(),
  };
});
