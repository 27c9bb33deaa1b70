// Settings shared by the scoring benches (run.ts, micro-batch.ts): flags read once from the command
// line (see run.ts for their meaning), the request shape and the repository's paths.
import { join } from 'node:path';
import { arg, numberArg } from '../../support/cli-args';

export const REPO = join(__dirname, '..', '..', '..');
/** Where the model-building Python scripts lie (bench/score). */
export const SCRIPTS = join(__dirname, '..');
export const PY = join(REPO, '.venv', 'bin', 'python');
export const B = numberArg('candidates', 500);
export const DURATION = numberArg('duration', 10);
export const THREADS = numberArg('threads', 2);
export const FILE = arg('file', 'model.onnx');
// Same default as the scorer (SCORER_ORT_ALLOW_SPINNING=false), so raw and served runs compare like for like.
export const SPINNING = arg('spinning', '0');
export const SESSION_EXTRA = { session: { intra_op: { allow_spinning: SPINNING } } };
export const L = 64;
export const D = 128;
