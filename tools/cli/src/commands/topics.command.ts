import type { Command } from 'commander';
import { loadConfig } from '@mmctr/config';
import { CliKafkaRepository } from '../kafka.repository';

export function register(program: Command): void {
  program
    .command('topics')
    .description("create the platform's Kafka topics that do not exist yet")
    .action(async () => {
      const created = await new CliKafkaRepository(loadConfig()).createMissingTopics();
      console.log(created.length ? `created topics: ${created.join(', ')}` : 'all topics exist');
    });
}
