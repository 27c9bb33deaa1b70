import type { ClickHouseService } from '@mmctr/clickhouse';
import type { ScoreResponse } from '@mmctr/scorer';
import { loggedRequestIds, waitFor, type RunningScorer } from '../../apps/scorer/test/support/scorer-harness';
import { parity, type TrainerRun, type ParityResult } from './trainer-cli';

/** A replayed score request: what the checks below read of it. */
export interface ReplayedRequest {
  request_id: string;
  candidates: { item_id: string }[];
}

/**
 * POSTs every request to `scorer` in order, expecting each answered by `version`, not degraded, one CTR in
 * (0, 1) per candidate in the candidates' order; then waits until score_log holds every request.
 */
export async function replayAndLog(
  scorer: RunningScorer,
  ch: ClickHouseService,
  version: string,
  requests: readonly ReplayedRequest[],
): Promise<void> {
  for (const body of requests) {
    const res = await scorer.score<ScoreResponse>(body);
    expect({ status: res.status, version: res.body.model_version, degraded: res.body.degraded }).toEqual({
      status: 200,
      version,
      degraded: false,
    });
    expect(res.body.scores.map((s) => s.item_id)).toEqual(body.candidates.map((c) => c.item_id));
    expect(res.body.scores.every((s) => s.ctr > 0 && s.ctr < 1)).toBe(true);
  }
  await waitFor('every replayed request in score_log', async () => {
    const logged = await loggedRequestIds(ch);
    return requests.every((r) => logged.has(r.request_id));
  });
}

/**
 * `mmctr-train parity` on `database` for `version`, expecting every logged request and candidate checked,
 * none over the tolerance or skipped, and max |Δp| <= 1e-4; the run, for further checks.
 */
export async function expectParity(
  database: string,
  version: string,
  requests: readonly ReplayedRequest[],
): Promise<TrainerRun & { result: ParityResult }> {
  const run = await parity(database, version);
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.result).toMatchObject({
    ok: true,
    model_version: version,
    rows_checked: requests.length,
    candidates_checked: requests.reduce((n, r) => n + r.candidates.length, 0),
    candidates_over_tolerance: 0,
    degraded_rows_skipped: 0,
    spec_mismatch_rows: 0,
    malformed_rows: 0,
  });
  expect(run.result!.max_abs_diff).toBeLessThanOrEqual(1e-4);
  return { ...run, result: run.result! };
}
