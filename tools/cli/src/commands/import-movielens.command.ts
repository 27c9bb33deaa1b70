import { join } from 'node:path';
import type { Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import { loadConfig } from '@mmctr/config';
import { entityTopic, loadFeatureRepo, snapshotEntities } from '@mmctr/feature-repo';
import { CliKafkaRepository } from '../kafka.repository';
import { describeBadLine } from './import-movielens-parse';
import type { SplitPart } from './import-movielens-split';
import { prepareImport, sendMessages, TS_SHIFT_MS, type ImportSummary } from './import-movielens';

const ROOT = join(__dirname, '..', '..', '..', '..');

interface MovielensCliOptions {
  repo: string;
  checksums: string;
  skipBadLines?: boolean;
  limit?: string;
  batchSize: string;
  progress: boolean;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`${flag} must be a positive integer, got '${value}'`);
  }
  return n;
}

/** The `import` group, shared by every importer's command file. */
function importGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'import') ??
    program.command('import').description('load a public dataset into the platform through Kafka')
  );
}

export function register(program: Command): void {
  importGroup(program)
    .command('movielens')
    .description(
      'send MovieLens-100k (u.user, u.item, u.data of DIR) to Kafka: user profiles, movies, and per rating ' +
        'an impression (a click too when rated 4 or 5), for feature-repos/movielens',
    )
    .argument('<dir>', 'the ml-100k folder')
    .option('--repo <path>', 'the feature repository', join(ROOT, 'feature-repos', 'movielens'))
    .option('--checksums <file>', 'SHA-256 of each file', join(ROOT, 'bench', 'quality', 'ml-100k.sha256'))
    .option('--skip-bad-lines', 'count and skip malformed lines instead of stopping at the first')
    .option('--limit <n>', 'only the first n ratings in time order')
    .option('--batch-size <n>', 'messages per produce request', '5000')
    .option('--no-progress', 'no progress bar')
    .action(async (dir: string, opts: MovielensCliOptions) => {
      const config = loadConfig();
      const repo = loadFeatureRepo(opts.repo);
      const options = {
        dir,
        checksums: opts.checksums,
        skipBadLines: opts.skipBadLines === true,
        limit: opts.limit === undefined ? undefined : positiveInt(opts.limit, '--limit'),
        batchSize: positiveInt(opts.batchSize, '--batch-size'),
      };
      // Every file and line is checked before Kafka is touched.
      const { messages, summary } = prepareImport(options, repo, config);
      const kafka = new CliKafkaRepository(config, { batchSize: options.batchSize });
      const bar = new SingleBar(
        {
          format: 'import |{bar}| {percentage}% | {value}/{total} messages | {eta_formatted} left',
          hideCursor: true,
        },
        Presets.shades_classic,
      );
      try {
        await kafka.createMissingTopics();
        await kafka.createSnapshotTopics(snapshotEntities(repo).map((e) => entityTopic(e, config)));
        await sendMessages(messages, kafka, options.batchSize, (sent, total) => {
          if (!opts.progress) return;
          if (sent === 0) bar.start(total, 0);
          else bar.update(sent);
        });
      } finally {
        bar.stop();
        await kafka.close();
      }
      printSummary(summary);
    });
}

const day = (s: number | null) => (s === null ? '-' : new Date(s * 1000).toISOString().replace('.000Z', 'Z'));
const part = (name: string, p: SplitPart) =>
  `  ${name.padEnd(5)} ${String(p.count).padStart(6)} ratings  ${day(p.fromS)} .. ${day(p.toS)}`;

function printSummary(s: ImportSummary): void {
  if (s.skipped.length > 0) {
    console.log(`skipped ${s.skipped.length} malformed line(s):`);
    for (const b of s.skipped.slice(0, 10)) console.log(`  ${describeBadLine(b)}`);
    if (s.skipped.length > 10) console.log(`  ... and ${s.skipped.length - 10} more`);
  }
  for (const t of s.topics) console.log(`sent ${t.sent} ${t.what} to ${t.topic}`);
  console.log(
    `${s.users} users, ${s.movies} movies, ${s.impressions} impressions, ${s.clicks} clicks (rating >= 4)`,
  );
  console.log(
    `event times are the ratings' times + ${TS_SHIFT_MS / 86_400_000} days (28 years: same date, weekday and time of day)`,
  );
  console.log('time split of the imported ratings (80 / 10 / 10 %, rating times):');
  console.log(part('train', s.split.train));
  console.log(part('valid', s.split.valid));
  console.log(part('test', s.split.test));
}
