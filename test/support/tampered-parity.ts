import type { ClickHouseService } from '@mmctr/clickhouse';
import { parity } from './trainer-cli';
import type { ReplayedRequest } from './replay-check';

/**
 * Logs a copy of `request`'s score_log row in `database` with its first CTR moved by 0.01 (as
 * `<id>-tampered`), then expects `mmctr-train parity` to fail on exactly that candidate of the `logged`
 * rows plus the copy.
 */
export async function expectTamperedCtrFails(
  { ch, database }: { ch: ClickHouseService; database: string },
  version: string,
  request: ReplayedRequest,
  logged: number,
): Promise<void> {
  const id = request.request_id;
  const [row] = await ch.query<Record<string, unknown> & { ctrs: number[]; ts_ms: string }>(
    'SELECT * FROM score_log FINAL WHERE request_id = {id:String}',
    { id },
  );
  const ctrs = [...row!.ctrs];
  ctrs[0] = ctrs[0]! + (ctrs[0]! < 0.5 ? 0.01 : -0.01);
  const ts = Number(row!.ts_ms);
  await ch.insert('score_log', [
    { ...row, request_id: `${id}-tampered`, ts_ms: ts, event_time: Math.floor(ts / 1000), ctrs },
  ]);
  const run = await parity(database, version, ['--quiet']);
  expect(run.code).toBe(1);
  expect(run.result).toMatchObject({ ok: false, rows_checked: logged + 1, candidates_over_tolerance: 1 });
  expect(run.result!.worst[0]).toMatchObject({
    request_id: `${id}-tampered`,
    item_id: request.candidates[0]!.item_id,
  });
  expect(Math.abs(run.result!.worst[0]!.abs_diff - 0.01)).toBeLessThan(1e-6);
}
