import { parseDeadlineHeader } from './deadline-header';

describe('parseDeadlineHeader', () => {
  it('reads a budget in ms; absent is null (the default applies); 0 is a spent budget', () => {
    expect(parseDeadlineHeader(undefined)).toEqual({ ok: true, budgetMs: null });
    expect(parseDeadlineHeader('80')).toEqual({ ok: true, budgetMs: 80 });
    expect(parseDeadlineHeader(' 12.5 ')).toEqual({ ok: true, budgetMs: 12.5 });
    expect(parseDeadlineHeader('0')).toEqual({ ok: true, budgetMs: 0 });
  });

  it.each([['abc'], [''], ['-5'], ['1e3'], ['10ms'], ['Infinity'], ['3600001']])(
    'refuses %p with a message naming the header',
    (value) => {
      const parsed = parseDeadlineHeader(value);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.message).toContain('x-request-deadline-ms');
    },
  );

  it('refuses the header sent twice', () => {
    expect(parseDeadlineHeader(['10', '20'])).toMatchObject({ ok: false });
  });
});
