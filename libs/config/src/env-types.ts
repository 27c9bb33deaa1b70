import { z } from 'zod';

// Zod types for environment variables, shared by the platform schema and the apps' own sections.
// loadConfigSection prefixes each message with the variable's name.

/** An integer within [min, max], from its decimal text. Blank text is an error, not 0. */
export const envInt = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? NaN : Number(v)) : v),
    z
      .number({ invalid_type_error: 'must be an integer' })
      .int('must be an integer')
      .min(min, `must be an integer from ${min} to ${max}`)
      .max(max, `must be an integer from ${min} to ${max}`),
  );

/** A finite number within [min, max]. Blank text is an error, not 0. */
export const envNumber = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? NaN : Number(v)) : v),
    z
      .number({ invalid_type_error: 'must be a number' })
      .min(min, `must be a number from ${min} to ${max}`)
      .max(max, `must be a number from ${min} to ${max}`),
  );

/** A TCP port, 1..65535. */
export const envPort = () => envInt(1, 65_535);

/** true / false / 1 / 0. */
export const envBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const splitList = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** A comma-separated list; items trimmed, empty items dropped. */
export const envList = (defaultValue = '') => z.string().default(defaultValue).transform(splitList);

/**
 * A comma-separated list of secrets (API keys): unset means none, but a value that is set and lists no
 * key (`""`, `" , "`) is an error, so a typo cannot silently turn authentication off.
 */
export const envKeyList = () =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return [];
      const keys = splitList(v);
      if (keys.length === 0) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: 'is set but lists no key; unset it to disable',
        });
        return z.NEVER;
      }
      return keys;
    });

/** An absolute URL with one of `protocols` (e.g. `['redis:', 'rediss:']`) and, if given, a valid port. */
export const envUrl = (protocols: readonly string[]) =>
  z.string().superRefine((v, ctx) => {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a URL (${protocols.join(' or ')})` });
      return;
    }
    if (!protocols.includes(url.protocol))
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must use ${protocols.join(' or ')}` });
    else if (!url.hostname) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must name a host' });
  });

/** Comma-separated host:port pairs, each port 1..65535. */
export const envHostPortList = () =>
  z
    .string()
    .min(1)
    .transform(splitList)
    .refine(
      (list) =>
        list.length > 0 &&
        list.every((b) => {
          const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(b);
          return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65_535;
        }),
      'must be a comma-separated list of host:port (port 1..65535)',
    );
