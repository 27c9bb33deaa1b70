import { createReadStream, statSync } from 'node:fs';
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { loadConfig } from '@mmctr/config';
import { CliKafkaRepository, type KeyedLine } from '../kafka.repository';
import { byteLines, checkLine } from './produce-lines';

interface ProduceOptions {
  file: string;
  topic?: string;
  items?: boolean;
  batchSize: string;
  validate: boolean;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command('produce')
    .description('send a JSON-lines file of events (or items) to Kafka, keyed by user_id (item_id)')
    .requiredOption('-f, --file <path>', 'JSON lines, one event or item per line')
    .option('-t, --topic <topic>', 'topic (default: KAFKA_TOPIC_EVENTS, or KAFKA_TOPIC_ITEMS with --items)')
    .option('--items', 'the file holds catalogue items')
    .option('--batch-size <n>', 'messages per produce request', '5000')
    .option('--no-validate', 'send lines as they are, without checking them against the contract')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: ProduceOptions) => {
      const config = loadConfig();
      const kind = opts.items ? 'item' : 'event';
      const topic = opts.topic ?? (opts.items ? config.KAFKA_TOPIC_ITEMS : config.KAFKA_TOPIC_EVENTS);
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1)
        throw new Error('--batch-size must be a positive integer');
      const size = statSync(opts.file).size;

      const kafka = new CliKafkaRepository(config, { batchSize });
      const bar = new SingleBar(
        {
          format: 'produce |{bar}| {percentage}% | {sent} sent, {rejected} rejected | {eta_formatted} left',
          hideCursor: true,
        },
        Presets.shades_classic,
      );
      if (opts.progress) bar.start(size, 0, { sent: 0, rejected: 0 });

      let batch: KeyedLine[] = [];
      let bytes = 0;
      let sent = 0;
      let lineNo = 0;
      const rejected: string[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        await kafka.send(topic, batch);
        sent += batch.length;
        batch = [];
        if (opts.progress) bar.update(bytes, { sent, rejected: rejected.length });
      };
      try {
        // Lines stay bytes: the value sent is exactly what the file holds (never re-encoded).
        for await (const line of byteLines(createReadStream(opts.file))) {
          lineNo++;
          bytes += line.length + 1;
          if (line.toString('latin1').trim() === '') continue;
          const checked = checkLine(kind, line, opts.validate);
          if (!checked.ok) {
            rejected.push(`line ${lineNo}: ${checked.reason}`);
            continue;
          }
          batch.push({ key: checked.key, value: line });
          if (batch.length >= batchSize) await flush();
        }
        await flush();
      } finally {
        if (opts.progress) bar.stop();
        await kafka.close();
      }
      console.log(`sent ${sent} message(s) to ${topic}; rejected ${rejected.length}`);
      for (const r of rejected.slice(0, 10)) console.log(`  ${r}`);
      if (rejected.length > 10) console.log(`  ... and ${rejected.length - 10} more`);
      if (rejected.length > 0) process.exitCode = 2;
    });
}
