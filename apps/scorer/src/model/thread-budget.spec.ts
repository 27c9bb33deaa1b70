import { intraOpThreads } from './thread-budget';

describe('intraOpThreads: sessions running at once never ask for more threads than cores', () => {
  it('keeps the configured count with one process and inference on the request loop', () => {
    expect(intraOpThreads(2, 0, 1, 2)).toBe(2);
    expect(intraOpThreads(0, 0, 1, 2)).toBe(0); // onnxruntime's default
  });

  it('caps each session at cores ÷ (processes × pool threads), at least 1', () => {
    expect(intraOpThreads(2, 1, 1, 2)).toBe(2);
    expect(intraOpThreads(2, 2, 1, 2)).toBe(1);
    expect(intraOpThreads(2, 0, 2, 2)).toBe(1);
    expect(intraOpThreads(2, 2, 2, 2)).toBe(1);
    expect(intraOpThreads(4, 2, 1, 16)).toBe(4);
    expect(intraOpThreads(8, 2, 2, 16)).toBe(4);
  });

  it('gives configured 0 (every core) the share', () => {
    expect(intraOpThreads(0, 4, 1, 16)).toBe(4);
    expect(intraOpThreads(0, 3, 1, 2)).toBe(1);
  });
});
