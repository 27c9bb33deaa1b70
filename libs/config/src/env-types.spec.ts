import { z } from 'zod';
import { loadConfigSection } from './app-config';
import { configProblems } from './config-problems.testing';
import { envInt, envKeyList, envPort, envUrl } from './env-types';

const schema = z.object({
  SOME_PORT: envPort().default(8080),
  SOME_COUNT: envInt(1, 10).default(3),
  SOME_KEYS: envKeyList(),
  SOME_URL: envUrl(['http:', 'https:']).optional(),
});

const problems = (env: Record<string, string>): string[] =>
  configProblems(() => loadConfigSection(schema, env));

describe('env types through loadConfigSection', () => {
  it('parses valid values and applies defaults', () => {
    expect(loadConfigSection(schema, {})).toEqual({ SOME_PORT: 8080, SOME_COUNT: 3, SOME_KEYS: [] });
    expect(
      loadConfigSection(schema, {
        SOME_PORT: '1',
        SOME_COUNT: ' 10 ',
        SOME_KEYS: ' a , b,',
        SOME_URL: 'https://x.example:8443/p',
      }),
    ).toEqual({ SOME_PORT: 1, SOME_COUNT: 10, SOME_KEYS: ['a', 'b'], SOME_URL: 'https://x.example:8443/p' });
  });

  it.each([
    ['SOME_PORT', '', /^SOME_PORT: must be an integer$/],
    ['SOME_PORT', '0', /^SOME_PORT: must be an integer from 1 to 65535$/],
    ['SOME_PORT', '99999', /^SOME_PORT: must be an integer from 1 to 65535$/],
    ['SOME_PORT', 'eighty', /^SOME_PORT: must be an integer$/],
    ['SOME_COUNT', '2.5', /^SOME_COUNT: must be an integer$/],
    ['SOME_KEYS', ' , ', /^SOME_KEYS: is set but lists no key/],
    ['SOME_KEYS', '', /^SOME_KEYS: is set but lists no key/],
    ['SOME_URL', 'not-a-url', /^SOME_URL: must be a URL/],
    ['SOME_URL', 'ftp://x.example/', /^SOME_URL: must use http: or https:$/],
  ])('rejects %s=%j with the variable named', (name, value, message) => {
    const p = problems({ [name]: value });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(message);
  });

  it('collects every bad variable in one error', () => {
    expect(() => loadConfigSection(schema, { SOME_PORT: '', SOME_KEYS: ',' })).toThrow(
      /SOME_PORT: must be an integer[\s\S]*SOME_KEYS: is set but lists no key/,
    );
  });
});
