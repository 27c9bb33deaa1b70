// Offline recomputation of served CTRs: raw features -> libs/features encoders (the trainer's twin)
// -> a plain onnxruntime session. Reads OfflineInput as JSON on stdin, prints the CTRs as JSON.
// Usage: node -r ./scripts/register.js apps/scorer/test/support/offline-score.ts MODEL_DIR < input.json
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  TAG_SLOTS,
  encodeCandidates,
  encodeUser,
  loadFeatureSpec,
  type RawCandidate,
  type RawUser,
} from '@mmctr/features';

export interface OfflineInput {
  user: RawUser;
  candidates: RawCandidate[];
}

async function main(): Promise<void> {
  const dir = process.argv[2]!;
  const input = JSON.parse(readFileSync(0, 'utf8')) as OfflineInput;
  const spec = loadFeatureSpec(join(dir, 'feature_spec.json'));
  const u = encodeUser(spec, input.user);
  const c = encodeCandidates(spec, input.candidates);
  const L = spec.history.length;
  const D = spec.multimodal.dim;
  const B = c.batch;
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  const feeds: Record<string, ort.Tensor> = {
    user_fields: new ort.Tensor('int64', u.userFields, [1, u.userFields.length]),
    hist_ids: new ort.Tensor('int64', u.histIds, [1, L]),
    hist_tags: new ort.Tensor('int64', u.histTags, [1, L, TAG_SLOTS]),
    hist_cat: new ort.Tensor('int64', u.histCat, [1, L]),
    hist_mm: new ort.Tensor('float32', u.histMm, [1, L, D]),
    cand_fields: new ort.Tensor('int64', c.candFields, [B, spec.candidate_fields.length]),
    cand_tags: new ort.Tensor('int64', c.candTags, [B, TAG_SLOTS]),
    cand_mm: new ort.Tensor('float32', c.candMm, [B, D]),
  };
  // Graphs exported before feature spec fs-2 have no hist_age input.
  if (session.inputNames.includes('hist_age')) feeds.hist_age = new ort.Tensor('int64', u.histAge, [1, L]);
  const out = await session.run(feeds);
  process.stdout.write(JSON.stringify(Array.from(out.ctr!.data as Float32Array)));
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
}
