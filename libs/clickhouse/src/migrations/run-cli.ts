/**
 * Runs a DDL command-line entry point: prints what `main` returns, if anything; on an error prints it
 * after `name` and exits 1 (the migration and storage renderers, the migrator).
 */
export function runCli(name: string, main: () => string | void | Promise<string | void>): void {
  Promise.resolve()
    .then(main)
    .then(
      (out) => {
        if (out !== undefined) console.log(out);
      },
      (err: Error) => {
        console.error(`${name}: ${err.message}`);
        process.exit(1);
      },
    );
}
