// Model artifact folders for the scoring benches, built once and cached under .cache/bench-models.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sourcesHash } from '../../../test/support/sources-hash';
import { TEST_MODEL_SCRIPT, testModelSourcesHash } from '../../../apps/scorer/test/support/test-model-source';
import { PY, REPO, SCRIPTS } from './settings';

/** The QIN-shaped fixture graph at embedding `emb` (cached by source hash). */
export function fixtureModel(emb: number): string {
  const dir = join(REPO, '.cache', 'bench-models', `qin-e${emb}-${testModelSourcesHash()}`);
  if (!existsSync(join(dir, 'model.onnx'))) {
    execFileSync(PY, [TEST_MODEL_SCRIPT, dir, '--emb', String(emb), '--seed', '11'], {
      stdio: 'inherit',
    });
  }
  return dir;
}

/** The trainer's `arch` with `configs/<config>.json`'s hyper-parameters, random weights (cached by source hash). */
function trainerModel(arch: string, config: string): string {
  const trainer = join(REPO, 'apps', 'trainer');
  const pkg = join(trainer, 'mmctr_trainer');
  const sources = [
    join(trainer, 'configs', `${config}.json`),
    join(REPO, 'libs', 'features', 'feature_spec.json'),
    join(SCRIPTS, 'make-default-models.py'),
    ...['export.py', 'features.py', 'train.py', 'config.py'].map((f) => join(pkg, f)),
    ...['models', 'layers'].flatMap((sub) =>
      readdirSync(join(pkg, sub))
        .filter((f) => f.endsWith('.py'))
        .map((f) => join(pkg, sub, f)),
    ),
  ];
  const root = join(REPO, '.cache', 'bench-models', `trainer-${sourcesHash(sources)}`);
  const dir = join(root, `${arch}-${config}`);
  if (!existsSync(join(dir, 'model.onnx'))) {
    execFileSync(PY, [join(SCRIPTS, 'make-default-models.py'), root, '--config', config, '--models', arch], {
      stdio: 'inherit',
    });
  }
  return dir;
}

/** Artifact folder of a model name (see the usage above). */
export function resolveModel(name: string): string {
  const fixture = /^qin-e(\d+)$/.exec(name);
  if (fixture) return fixtureModel(Number(fixture[1]));
  const trainer = /^(qin|autoint|din|lr)-([\w-]+)$/.exec(name);
  if (trainer && !existsSync(name)) return trainerModel(trainer[1]!, trainer[2]!);
  if (!existsSync(join(name, 'model.onnx')))
    throw new Error(`${name}: no model.onnx (not an artifact folder)`);
  return name;
}

/** FLOPs of one request (MatMul/Gemm from the ONNX graph with shape inference: model-flops.py). */
export function graphFlops(file: string, b: number, l: number): number {
  const out = execFileSync(PY, [
    join(SCRIPTS, 'model-flops.py'),
    file,
    '--batch',
    String(b),
    '--history',
    String(l),
  ]);
  return (JSON.parse(out.toString()) as { flops: number }).flops;
}
