import 'reflect-metadata';
import { Option, type Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { NestFactory } from '@nestjs/core';
import {
  BackfillService,
  EmbedderCoreModule,
  EntityBackfillCliModule,
  EntityBackfillService,
  type BackfillProgress,
  type BackfillResult,
  type EntityBackfillResult,
} from '@mmctr/embedder';

interface EmbedOptions {
  all?: boolean;
  item?: string;
  entity?: string;
  refitProjection?: boolean;
  force?: boolean;
  concurrency: string;
  dim?: string;
  progress: boolean;
}

function progressBar(enabled: boolean, label: string, unit = 'items') {
  if (!enabled || !process.stderr.isTTY) return { update: (_p: BackfillProgress) => {}, stop: () => {} };
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} ${unit} | {failed} failed | {eta_formatted} left`,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p: BackfillProgress) => {
      if (!started) {
        bar.start(p.total, 0, { failed: 0 });
        started = true;
      }
      bar.update(p.done, { failed: p.failed });
    },
    stop: () => started && bar.stop(),
  };
}

/** A backfill's counts as one JSON line: failures by reason and the first five; `head` fields first. */
function printCounts(
  r: Pick<BackfillResult, 'total' | 'skipped' | 'stored' | 'stale'> & {
    failures: readonly { reason: string }[];
  },
  head: object = {},
  tail: object = {},
): void {
  const reasons = new Map<string, number>();
  for (const f of r.failures) reasons.set(f.reason, (reasons.get(f.reason) ?? 0) + 1);
  console.log(
    JSON.stringify({
      ...head,
      total: r.total,
      skipped: r.skipped,
      stored: r.stored,
      stale: r.stale,
      failed: r.failures.length,
      failures_by_reason: Object.fromEntries(reasons),
      first_failures: r.failures.slice(0, 5),
      ...tail,
    }),
  );
}

const printResult = (r: BackfillResult): void => printCounts(r, {}, { refit: r.refit });

const printEntityResult = (r: EntityBackfillResult): void =>
  printCounts(r, { embedding: r.embedding, entity: r.entity, table: r.table });

/** `--entity`: the backfill of one entity embedding, in its own context (it needs no catalogue path). */
async function embedEntity(name: string, opts: EmbedOptions): Promise<void> {
  const app = await NestFactory.createApplicationContext(EntityBackfillCliModule, { logger: ['error'] });
  app.enableShutdownHooks();
  try {
    const backfill = app.get(EntityBackfillService);
    backfill.target(name); // an unknown name fails before the bar starts
    const bar = progressBar(opts.progress, name, 'keys');
    try {
      printEntityResult(
        await backfill.embed(name, {
          force: opts.force,
          concurrency: Number(opts.concurrency),
          onProgress: bar.update,
        }),
      );
    } finally {
      bar.stop();
    }
  } finally {
    await app.close();
  }
}

export function register(program: Command): void {
  program
    .command('embed')
    .description(
      'embed catalogue items in-process (image, text and fused vectors), refit the projection, or backfill an entity embedding',
    )
    .option('--all', 'backfill every item of items_latest not yet embedded with its current content')
    .option('--item <id>', 'embed one item')
    .option(
      '--entity <embedding>',
      'backfill this entity embedding of the feature repository: the newest snapshot of every key not yet embedded',
    )
    .option('--refit-projection', 'fit a new projection on the stored vectors and re-project every item')
    .option('--force', 'with --all or --entity: re-embed what is already embedded')
    .option('--concurrency <n>', 'items (or entity keys) in flight', '32')
    .option('--dim <d>', 'with --refit-projection: size of the fused vector (default EMBEDDER_FUSED_DIM)')
    .addOption(new Option('--no-progress', 'no progress bar'))
    .action(async (opts: EmbedOptions) => {
      if (opts.entity !== undefined) {
        if (opts.all || opts.item || opts.refitProjection)
          throw new Error('embed: --entity goes alone (not with --all, --item or --refit-projection)');
        return embedEntity(opts.entity, opts);
      }
      if (!opts.all && !opts.item && !opts.refitProjection)
        throw new Error('embed: give --all, --item <id>, --refit-projection or --entity <embedding>');
      const app = await NestFactory.createApplicationContext(EmbedderCoreModule, { logger: ['error'] });
      app.enableShutdownHooks();
      try {
        const backfill = app.get(BackfillService);
        if (opts.item) printResult(await backfill.embedItem(opts.item));
        if (opts.all) {
          const bar = progressBar(opts.progress, 'embedding');
          try {
            printResult(
              await backfill.embedAll({
                force: opts.force,
                concurrency: Number(opts.concurrency),
                onProgress: bar.update,
              }),
            );
          } finally {
            bar.stop();
          }
        }
        if (opts.refitProjection) {
          const bar = progressBar(opts.progress, 'projecting');
          try {
            const dim = opts.dim === undefined ? undefined : Number(opts.dim);
            console.log(JSON.stringify({ refit: await backfill.refit({ dim, onProgress: bar.update }) }));
          } finally {
            bar.stop();
          }
        }
      } finally {
        await app.close();
      }
    });
}
