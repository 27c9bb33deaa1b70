import { ConfigError } from './app-config';

/** The problems a config load reports (a ConfigError's list), or none when it loads; for the specs. */
export function configProblems(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
