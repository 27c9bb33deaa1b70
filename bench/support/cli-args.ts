/** `--name value` from the command line, else the default (the benchmarks' flags are all of this form). */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

/** A numeric flag; a value that is not a number fails with the flag's name. */
export function numberArg(name: string, fallback: number): number {
  const raw = arg(name, String(fallback));
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${raw}'`);
  return n;
}

/** A numeric flag that may be absent (undefined); a value that is not a number fails with its name. */
export function optionalNumberArg(name: string): number | undefined {
  return process.argv.includes(`--${name}`) ? numberArg(name, NaN) : undefined;
}

/** `--name 'K=V;K2=V2'` as an environment object (empty when absent). */
export function envArg(name: string): Record<string, string> {
  return Object.fromEntries(
    arg(name, '')
      .split(';')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}
