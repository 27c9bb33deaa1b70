import type { ScoreLogRecord } from '@mmctr/contracts';
import { demoLayout } from '../../test/support/test-layout';
import type { AssemblyInput } from '../scoring/feature-assembler';
import { checkScoreLogValue, packScoreLog, scoreLogValue } from './score-log-codec';
import { scoreLogRecord, type ScoreLogParts } from './score-log-record';

const layout = demoLayout();
const L = layout.sequences[0]!.length;

function parts(over: Partial<AssemblyInput> = {}): ScoreLogParts {
  const history = Array.from({ length: L + 3 }, (_, i) => `h${i}`);
  const input: AssemblyInput = {
    userId: 'u1',
    context: { device: 'ios', placement: 'feed', country: 'FR' },
    tsMs: 1_767_225_600_000,
    sequences: [
      { ids: history, rows: new Int32Array(0), tsMs: history.map((_, i) => 1_767_225_000_000 - i) },
    ],
    candidateIds: ['a', 'b', 'c'],
    candidateRows: new Int32Array(3),
    candidateContext: { position: [4, 0, 7] },
    ...over,
  };
  const response = {
    request_id: 'req-1',
    model_version: 'm2',
    scores: [
      { item_id: 'a', ctr: 0.125 },
      { item_id: 'b', ctr: 0.25 },
      { item_id: 'c', ctr: 0.5 },
    ],
    degraded: true,
  };
  return { layout, input, served: { version: 'm2', layout: { version: 'fs-9' } }, response };
}

describe('scoreLogRecord', () => {
  it('records what answered and what was used: contexts, positions, sequences cut to their length', () => {
    const p = parts();
    const r = scoreLogRecord(p);
    const seq = layout.sequences[0]!.name;
    const history = p.input.sequences[0]!;
    expect(r).toEqual<ScoreLogRecord>({
      schema_version: 1,
      request_id: 'req-1',
      ts_ms: 1_767_225_600_000,
      user_id: 'u1',
      model_version: 'm2',
      feature_spec_version: 'fs-9',
      context: { device: 'ios', placement: 'feed', country: 'FR' },
      history_item_ids: history.ids.slice(0, L),
      history_ts_ms: history.tsMs.slice(0, L),
      item_ids: ['a', 'b', 'c'],
      positions: [4, 0, 7],
      ctrs: [0.125, 0.25, 0.5],
      degraded: true,
      candidate_context: [{ position: 4 }, { position: 0 }, { position: 7 }],
      sequences: { [seq]: { keys: history.ids.slice(0, L), ts_ms: history.tsMs.slice(0, L) } },
    });
  });

  it('copies what the request may still change, and logs zero positions without the attribute', () => {
    const p = parts({ candidateContext: { slot: [1, 2, 3] } });
    const r = scoreLogRecord(p);
    expect(r.positions).toEqual([0, 0, 0]);
    expect(r.candidate_context).toEqual([{ slot: 1 }, { slot: 2 }, { slot: 3 }]);
    (p.input.context as Record<string, unknown>).device = 'changed';
    expect(r.context?.device).toBe('ios');
  });

  it('passes the contract check the score log thread makes', () => {
    expect(checkScoreLogValue(scoreLogValue(packScoreLog(scoreLogRecord(parts()))))).toEqual({ ok: true });
  });
});
