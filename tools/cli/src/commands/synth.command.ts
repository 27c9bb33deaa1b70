import { InvalidArgumentError, type Command } from 'commander';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import {
  DEFAULT_OUT_DIR,
  type DeepPartial,
  generate,
  type Phase,
  resolveConfig,
  SMALL_PRESET,
  type SynthConfig,
  type SynthSummary,
} from '@mmctr/synth';

interface SynthOptions {
  small?: boolean;
  seed?: number;
  items?: number;
  users?: number;
  impressions?: number;
  days?: number;
  coldStartShare?: number;
  targetCtr?: number;
  out: string;
  progress: boolean;
}

const integer = (min: number) => (raw: string) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return n;
};
const fraction = (raw: string) => {
  const n = Number(raw);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
};

function overrides(o: SynthOptions): DeepPartial<SynthConfig> {
  return {
    seed: o.seed,
    days: o.days,
    items: { count: o.items, coldStartShare: o.coldStartShare },
    users: { count: o.users },
    requests: { impressions: o.impressions },
    clickModel: { targetCtr: o.targetCtr },
  };
}

function report(s: SynthSummary, seconds: number): string {
  const o = s.oracle;
  const c = s.counts;
  const iso = (ms: number) => new Date(ms).toISOString();
  return [
    `wrote ${s.outDir} in ${seconds.toFixed(1)} s (seed ${s.seed})`,
    `  items ${c.items} (cold-start ${c.coldStartItems}), users ${c.users}, requests ${c.requests}`,
    `  impressions ${c.impressions}, clicks ${c.clicks} (CTR ${(100 * s.ctr).toFixed(2)}%), conversions ${c.conversions}`,
    `  periods: train from ${iso(s.periods.startMs)}, validation from ${iso(s.periods.validationStartMs)}, test from ${iso(s.periods.testStartMs)} to ${iso(s.periods.endMs)}`,
    `  oracle (p_true) test:    AUC ${o.p_true.test.auc.toFixed(4)}  log-loss ${o.p_true.test.logloss.toFixed(4)}  CTR ${(100 * o.p_true.test.ctr).toFixed(2)}%`,
    `  oracle (p_true) test, cold-start items: AUC ${o.p_true_cold_start_test.auc.toFixed(4)} on ${o.p_true_cold_start_test.impressions} impressions`,
    `  oracle (p_true) overall: AUC ${o.p_true.overall.auc.toFixed(4)}  log-loss ${o.p_true.overall.logloss.toFixed(4)}`,
    `  oracle without the noise draw (p_expected) test: AUC ${o.p_expected.test.auc.toFixed(4)}  log-loss ${o.p_expected.test.logloss.toFixed(4)}; cold-start items ${o.p_expected_cold_start_test.auc.toFixed(4)}`,
    `  the same, blind to cold-start items' content:   cold-start AUC ${o.content_blind_cold_start_test.auc.toFixed(4)}`,
    `  without short-term interest: test AUC ${o.without_short_term_auc.test.toFixed(4)}`,
    `  topic-only baseline:         test AUC ${o.topic_only_auc.test.toFixed(4)}`,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('synth')
    .description('generate a synthetic multimodal click stream (items, images, events, p_true, oracle)')
    .option('--small', 'small preset for tests: 300 items, 500 users, 20k impressions')
    .option('--seed <n>', 'random seed (same seed, same bytes)', integer(0))
    .option('--items <n>', 'catalogue size (default 5000)', integer(1))
    .option('--users <n>', 'number of users (default 20000)', integer(1))
    .option('--impressions <n>', 'number of impressions (default 1000000)', integer(1))
    .option(
      '--days <n>',
      'simulated days; the last 2 are test, the 2 before validation (default 14)',
      integer(5),
    )
    .option('--cold-start-share <x>', 'share of items first seen in the test period (default 0.1)', fraction)
    .option('--target-ctr <x>', 'overall click rate the intercept is calibrated to (default 0.05)', fraction)
    .option('--out <dir>', 'output directory', DEFAULT_OUT_DIR)
    .option('--no-progress', 'no progress bars on stderr')
    .action(async (o: SynthOptions) => {
      const started = process.hrtime.bigint();
      // cli-progress draws only on a terminal; piped runs get the summary alone.
      const bars =
        o.progress && process.stderr.isTTY
          ? new MultiBar(
              {
                format: '{phase} [{bar}] {percentage}% {value}/{total}',
                hideCursor: true,
                clearOnComplete: false,
              },
              Presets.shades_classic,
            )
          : null;
      const byPhase = new Map<Phase, SingleBar>();
      try {
        const summary = await generate(resolveConfig(o.small ? SMALL_PRESET : {}, overrides(o)), {
          outDir: o.out,
          onProgress: ({ phase, done, total }) => {
            if (!bars) return;
            let bar = byPhase.get(phase);
            if (!bar) byPhase.set(phase, (bar = bars.create(total, 0, { phase: phase.padEnd(11) })));
            bar.update(done);
          },
        });
        bars?.stop();
        console.log(report(summary, Number(process.hrtime.bigint() - started) / 1e9));
      } finally {
        bars?.stop();
      }
    });
}
