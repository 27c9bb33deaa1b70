import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const ESLINT = join(REPO, 'node_modules', '.bin', 'eslint');

/** Lints `code` as if it were the file `path`, with the repository's architecture rules only. */
function lint(path: string, code: string): { rc: number | null; out: string } {
  const r = spawnSync(
    ESLINT,
    ['--config', 'tools/lint/planted.config.mjs', '--stdin', '--stdin-filename', path],
    { cwd: REPO, input: code, encoding: 'utf8' },
  );
  return { rc: r.status, out: r.stdout + r.stderr };
}

const STORE_ONLY = /Only repositories \(\*\.repository\.ts\), Nest modules and libs may use store clients/;
const INTERNALS = /public exports/;

describe('architecture lint rules (planted violations)', () => {
  it.each([
    ["import { Kafka } from 'kafkajs';", 'apps/scorer/src/scoring/planted.service.ts'],
    ["import Redis from 'ioredis';", 'apps/ingest/src/health/planted.controller.ts'],
    ["import { Queue } from 'bullmq';", 'apps/embedder/src/embedding/planted.service.ts'],
    ["import { createClient } from '@clickhouse/client';", 'apps/dashboard/src/planted.service.ts'],
    ["import { ClickHouseService } from '@mmctr/clickhouse';", 'apps/scorer/src/planted.controller.ts'],
    ["import { createKafka } from '@mmctr/kafka';", 'tools/cli/src/commands/planted.command.ts'],
    ["import { createRedis } from '@mmctr/online-store';", 'apps/ingest/src/ingest/planted.service.ts'],
  ])('refuses %s in %s', (line, path) => {
    const { rc, out } = lint(path, `${line}\nexport const planted = 1;\n`);
    expect(rc).toBe(1);
    expect(out).toMatch(STORE_ONLY);
  });

  it.each([
    ['a repository', "import { Kafka } from 'kafkajs';", 'apps/scorer/src/score-log/planted.repository.ts'],
    ['a Nest module', "import Redis from 'ioredis';", 'apps/scorer/src/redis/planted.module.ts'],
    ['types only', "import type { Kafka } from 'kafkajs';", 'apps/scorer/src/scoring/planted.service.ts'],
    [
      'no client',
      "import { ClickHouseCode } from '@mmctr/clickhouse';",
      'apps/scorer/src/planted.service.ts',
    ],
    ['a lib', "import { Kafka } from 'kafkajs';", 'libs/kafka/src/planted.ts'],
  ])('allows %s: %s in %s', (_why, line, path) => {
    const { rc, out } = lint(path, `${line}\nexport const planted = 1;\n`);
    expect(out).not.toMatch(STORE_ONLY);
    expect(rc).toBe(0);
  });

  it.each([
    [
      "import { ScoreService } from '../../apps/scorer/src/scoring/score.service';",
      'test/e2e/planted.e2e-spec.ts',
    ],
    [
      "import { MIGRATIONS_DIR } from '@mmctr/clickhouse/src/migrations/migration-runner';",
      'bench/score/planted.ts',
    ],
  ])('refuses a deep import of internals: %s in %s', (line, path) => {
    const { rc, out } = lint(path, `${line}\nexport const planted = 1;\n`);
    expect(rc).toBe(1);
    expect(out).toMatch(INTERNALS);
  });

  it('allows the public exports in tests and benches', () => {
    const { rc, out } = lint(
      'test/e2e/planted.e2e-spec.ts',
      "import { MIGRATIONS_DIR } from '@mmctr/clickhouse';\nexport const d = MIGRATIONS_DIR;\n",
    );
    expect(out).not.toMatch(INTERNALS);
    expect(rc).toBe(0);
  });
});
