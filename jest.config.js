// One runner, three suites: unit (fakes allowed), integration and e2e (real Kafka, ClickHouse,
// Redis started by deploy/local/up).
const swc = ['@swc/jest', require('./jest.swc.js')];
const common = {
  transform: { '^.+\\.ts$': swc },
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/setup/load-stack-env.js'],
  testEnvironmentOptions: { globalsCleanup: 'off' },
};
// Real services: generous per-test limits (no timing assertions live in tests).
// (Jest ignores testTimeout inside a project entry, hence the setup file.)
const realServices = {
  globalSetup: '<rootDir>/test/setup/integration-global-setup.ts',
  setupFilesAfterEnv: ['<rootDir>/test/setup/real-services-timeout.js'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,tools}/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/{apps,libs,tools}/**/*.int-spec.ts',
        '<rootDir>/test/integration/**/*.int-spec.ts',
      ],
      ...realServices,
    },
    {
      // The loopback cluster (deploy/local/up --cluster); never part of the default test run.
      ...common,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.cluster-spec.ts'],
      setupFiles: ['<rootDir>/test/setup/load-cluster-env.js'],
      setupFilesAfterEnv: realServices.setupFilesAfterEnv,
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      ...realServices,
    },
  ],
};
