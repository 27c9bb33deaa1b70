/**
 * Runs a bench's `main` and ends the process: exit 0 once it resolves (its Redis clients and child
 * processes would otherwise keep it alive), exit 1 with the error printed if it rejects.
 */
export function runMainThenExit(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
