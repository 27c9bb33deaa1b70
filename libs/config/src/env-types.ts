import { z } from 'zod';

// Zod types for environment variables, shared by the platform schema and the apps' own sections.

/** An integer within [min, max], from its decimal text. */
export const envInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** true / false / 1 / 0. */
export const envBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A comma-separated list; items trimmed, empty items dropped. */
export const envList = (defaultValue = '') =>
  z
    .string()
    .default(defaultValue)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
