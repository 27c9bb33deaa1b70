import { parseDeadlineAtHeader, parseDeadlineHeader, requestBudget } from './deadline-header';

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

describe('parseDeadlineAtHeader', () => {
  const now = 1_800_000_000_000;

  it('turns Unix milliseconds into the budget left by the given clock, negative once passed', () => {
    expect(parseDeadlineAtHeader(undefined, now)).toEqual({ ok: true, budgetMs: null });
    expect(parseDeadlineAtHeader(String(now + 80), now)).toEqual({ ok: true, budgetMs: 80 });
    expect(parseDeadlineAtHeader(`${now + 12}.5`, now)).toEqual({ ok: true, budgetMs: 12.5 });
    expect(parseDeadlineAtHeader(String(now - 30), now)).toEqual({ ok: true, budgetMs: -30 });
  });

  it.each([['abc'], ['-5'], [String(now / 1000)], [String(now + 3_600_001)], [String(now - 3_600_001)]])(
    'refuses %p (not Unix milliseconds within an hour of the clock) with a message naming the header',
    (value) => {
      const parsed = parseDeadlineAtHeader(value, now);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.message).toContain('x-request-deadline-at-ms');
    },
  );
});

describe('requestBudget', () => {
  const now = 1_800_000_000_000;

  it('takes either header, and the earlier deadline when both are sent', () => {
    expect(requestBudget({}, now)).toEqual({ ok: true, budgetMs: null });
    expect(requestBudget({ 'x-request-deadline-ms': '40' }, now)).toEqual({ ok: true, budgetMs: 40 });
    expect(requestBudget({ 'x-request-deadline-at-ms': String(now + 25) }, now)).toEqual({
      ok: true,
      budgetMs: 25,
    });
    expect(
      requestBudget({ 'x-request-deadline-ms': '40', 'x-request-deadline-at-ms': String(now + 25) }, now),
    ).toEqual({ ok: true, budgetMs: 25 });
    expect(
      requestBudget({ 'x-request-deadline-ms': '10', 'x-request-deadline-at-ms': String(now + 25) }, now),
    ).toEqual({ ok: true, budgetMs: 10 });
  });

  it('refuses a bad value in either header', () => {
    expect(
      requestBudget({ 'x-request-deadline-ms': 'x', 'x-request-deadline-at-ms': String(now) }, now).ok,
    ).toBe(false);
    expect(requestBudget({ 'x-request-deadline-ms': '5', 'x-request-deadline-at-ms': 'x' }, now).ok).toBe(
      false,
    );
  });
});
