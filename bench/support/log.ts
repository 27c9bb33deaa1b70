/** A bench's progress line on stderr (stdout carries its results). */
export const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};
