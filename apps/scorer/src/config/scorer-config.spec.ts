import { ConfigError } from '@mmctr/config';
import { loadScorerConfig } from './scorer-config';

describe('loadScorerConfig', () => {
  it('leaves authentication off when SCORER_API_KEYS is unset and parses a key list', () => {
    expect(loadScorerConfig({}).SCORER_API_KEYS).toEqual([]);
    expect(loadScorerConfig({ SCORER_API_KEYS: 'k1, k2' }).SCORER_API_KEYS).toEqual(['k1', 'k2']);
  });

  it.each([' , ', ''])('refuses SCORER_API_KEYS=%j instead of turning authentication off', (value) => {
    expect(() => loadScorerConfig({ SCORER_API_KEYS: value })).toThrow(ConfigError);
    expect(() => loadScorerConfig({ SCORER_API_KEYS: value })).toThrow(
      /SCORER_API_KEYS: is set but lists no key/,
    );
  });

  it('names a blank or out-of-range number', () => {
    expect(() => loadScorerConfig({ SCORER_MAX_CANDIDATES: '' })).toThrow(
      /SCORER_MAX_CANDIDATES: must be an integer/,
    );
    expect(() => loadScorerConfig({ SCORER_REDIS_TIMEOUT_MS: '0' })).toThrow(/SCORER_REDIS_TIMEOUT_MS: /);
    expect(() => loadScorerConfig({ SCORER_PRIOR_CTR: ' ' })).toThrow(/SCORER_PRIOR_CTR: must be a number/);
    expect(loadScorerConfig({ SCORER_PRIOR_CTR: '0.1' }).SCORER_PRIOR_CTR).toBe(0.1);
  });

  it('defaults to inference on the request loop in one process, and names a bad worker or process count', () => {
    const c = loadScorerConfig({});
    expect([c.SCORER_INFERENCE_WORKERS, c.SCORER_PROCESSES]).toEqual([0, 1]);
    expect(() => loadScorerConfig({ SCORER_INFERENCE_WORKERS: '-1' })).toThrow(/SCORER_INFERENCE_WORKERS: /);
    expect(() => loadScorerConfig({ SCORER_PROCESSES: '0' })).toThrow(/SCORER_PROCESSES: /);
    expect(() => loadScorerConfig({ SCORER_PROCESSES: 'two' })).toThrow(
      /SCORER_PROCESSES: must be an integer/,
    );
  });
});
