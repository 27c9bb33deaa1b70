// Architecture rules, kept apart from eslint.config.mjs so that a test can lint planted violations
// with exactly these rules (tools/lint/store-access.spec.ts).
const STORE_ONLY = 'Only repositories (*.repository.ts), Nest modules and libs may use store clients.';
const STORE_CLIENTS = [
  ...['kafkajs', 'ioredis', 'bullmq', '@clickhouse/client'].map((name) => ({
    name,
    message: STORE_ONLY,
    allowTypeImports: true,
  })),
  {
    name: '@mmctr/clickhouse',
    importNames: [
      'ClickHouseService',
      'clickHouseClient',
      'clickHouseFromConfig',
      'insertIsolatingPoison',
      'MigrationRunner',
    ],
    message: STORE_ONLY,
    allowTypeImports: true,
  },
  {
    name: '@mmctr/kafka',
    importNames: ['createKafka', 'ensureTopics', 'EventProducer', 'DeadLetterProducer'],
    message: STORE_ONLY,
    allowTypeImports: true,
  },
  {
    name: '@mmctr/online-store',
    importNames: [
      'createRedis',
      'createBullRedis',
      'redisHealth',
      'OnlineStore',
      'onlineStoreFromConfig',
      'ItemEmbeddingQueue',
    ],
    message: STORE_ONLY,
    allowTypeImports: true,
  },
];

export const storeAccessRules = [
  // Only repositories touch the stores: store clients are imported in repositories, Nest modules
  // (which construct and provide them), libs, tests and benches. Type-only imports are fine anywhere.
  {
    files: ['apps/*/src/**/*.ts', 'tools/*/src/**/*.ts'],
    ignores: [
      '**/*.repository.ts',
      '**/*.module.ts',
      '**/*.spec.ts',
      '**/*.int-spec.ts',
      'apps/*/src/testing/**',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: STORE_CLIENTS }],
    },
  },
  // Benches and tests use the apps' and libs' public exports, not their internals.
  {
    files: ['bench/**/*.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/apps/*/src', '**/apps/*/src/**', '**/libs/*/src/**', '@mmctr/*/src/**'],
              message: "Import the package's public exports (e.g. '@mmctr/scorer'), not its internals.",
            },
          ],
        },
      ],
    },
  },
];
