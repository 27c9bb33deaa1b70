import type { Command } from 'commander';
import { loadConfig } from '@mmctr/config';
import { createKafka, ensureTopics, platformTopics } from '@mmctr/kafka';

export function register(program: Command): void {
  program
    .command('topics')
    .description("create the platform's Kafka topics that do not exist yet")
    .action(async () => {
      const config = loadConfig();
      const created = await ensureTopics(createKafka(config), platformTopics(config));
      console.log(created.length ? `created topics: ${created.join(', ')}` : 'all topics exist');
    });
}
