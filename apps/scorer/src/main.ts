import 'reflect-metadata';
import { loadConfig } from '@mmctr/config';
import { createScorerApp } from './bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await createScorerApp();
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
}

main().catch((err: Error) => {
  process.stderr.write(
    JSON.stringify({ level: 'fatal', app: 'scorer', msg: err.message, stack: err.stack }) + '\n',
  );
  process.exit(1);
});
