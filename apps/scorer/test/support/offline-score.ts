// Offline recomputation of served CTRs: a raw request -> libs/features LayoutEncoder (the trainer's twin)
// -> a plain onnxruntime session. Reads a RawRequest as JSON on stdin, prints the CTRs as JSON.
// Usage: node -r ./scripts/register.js apps/scorer/test/support/offline-score.ts MODEL_DIR < request.json
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import { LayoutEncoder, type RawRequest } from '@mmctr/features';

/** What the script reads on stdin: one raw request (the golden vectors' input format). */
export type OfflineRequest = RawRequest;

async function main(): Promise<void> {
  const dir = process.argv[2]!;
  const request = JSON.parse(readFileSync(0, 'utf8')) as RawRequest;
  const encoder = new LayoutEncoder(loadFeatureRepo(process.env.FEATURE_REPO ?? DEFAULT_FEATURE_REPO_PATH));
  const encoded = encoder.encodeRequest(request);
  const B = request.candidates?.length ?? 0;
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of encoder.layout.inputs) {
    const shape = input.shape.map((d) => (d === 'B' ? B : d === 'Bu' ? 1 : Number(d)));
    feeds[input.name] = new ort.Tensor(input.dtype, encoded[input.name]!, shape);
  }
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  const out = await session.run(feeds);
  process.stdout.write(JSON.stringify(Array.from(out.ctr!.data as Float32Array)));
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
}
