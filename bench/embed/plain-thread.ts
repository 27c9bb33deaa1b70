// One session of the benchmark's plain loop, in its own thread: onnxruntime-node runs a session's
// inference on the calling thread, so parallel sessions need threads, as in the service.
import { parentPort, workerData } from 'node:worker_threads';
import { Encoders, ImageLoader, PIXELS_PER_IMAGE, toEncoderPixels, type ModelSet } from '@mmctr/embedder';

export interface PlainThreadInit {
  models: ModelSet;
  ortThreads: number;
  /** The folder the run's images lie under: the loader reads local files only below it, as the service does. */
  imageRoot: string;
}

/** One batch: image file paths or texts. The reply is the batch's index once it is encoded. */
export type PlainThreadRequest = { index: number; kind: 'images' | 'texts'; inputs: string[] };

async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as PlainThreadInit;
  const encoders = await Encoders.load(init.models, init.ortThreads);
  const loader = new ImageLoader({
    allowedHosts: [],
    allowPrivate: false,
    allowFiles: true,
    fileRoots: [init.imageRoot],
    maxBytes: 10 * 1024 * 1024,
    timeoutMs: 5_000,
    maxRedirects: 0,
  });
  // Warm-up outside the timings, as the app's threads are warm by the time jobs arrive.
  await encoders.encodeTexts(['warm up']);
  await encoders.encodeImages(new Uint8Array(PIXELS_PER_IMAGE), 1);
  port.on('message', (req: PlainThreadRequest | 'release') => {
    if (req === 'release') {
      void encoders.release().then(() => port.postMessage('released'));
      return;
    }
    const work =
      req.kind === 'texts'
        ? encoders.encodeTexts(req.inputs)
        : Promise.all(
            req.inputs.map(async (src) => toEncoderPixels((await loader.load(src)).bytes, 40_000_000)),
          ).then((pixels) => {
            const buf = new Uint8Array(pixels.length * PIXELS_PER_IMAGE);
            pixels.forEach((p, j) => buf.set(p, j * PIXELS_PER_IMAGE));
            return encoders.encodeImages(buf, pixels.length);
          });
    void work.then(
      () => port.postMessage(req.index),
      (err: Error) => port.postMessage({ error: err.message }),
    );
  });
  port.postMessage('ready');
}

main().catch((err: Error) => {
  throw err;
});
