/**
 * Two projects. `unit`: everything fast (pure code, templates synthesized without esbuild bundling,
 * single local services on loopback). `e2e`: the slow end-to-end checks: the local runtime end to end,
 * tests that train models (the core path, the workflow handlers on local S3) and the one synth that
 * bundles the Lambda handlers with esbuild for real.
 *
 * `npm test` runs both; `npm run test:unit` and `npm run test:e2e` run one (jest --selectProjects).
 */
const E2E_TESTS = [
  '<rootDir>/test/local/e2e.test.ts',
  '<rootDir>/test/local/fault-matrix.test.ts',
  '<rootDir>/test/local/fault-matrix-kill.test.ts',
  '<rootDir>/test/bench/core-path.test.ts',
  '<rootDir>/test/functions/workflow/run-handlers.test.ts',
  '<rootDir>/test/infra/bundling.test.ts',
  '<rootDir>/test/local/twin-api.test.ts',
  '<rootDir>/test/local/rollback-workflow.test.ts',
  '<rootDir>/test/local/operate/twin-cli.test.ts',
  '<rootDir>/test/local/processing-path.test.ts',
  '<rootDir>/test/local/start-predefined.test.ts',
  '<rootDir>/test/local/tuning-path.test.ts',
];

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': 'ts-jest' },
};

/** @type {import('jest').Config} */
module.exports = {
  // Generous on purpose: no test may depend on how fast a shared or busy machine is.
  testTimeout: 60000,
  // One worker per core (jest's default leaves one core idle, which on 2 cores means running serially).
  maxWorkers: '100%',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...E2E_TESTS],
    },
    { ...common, displayName: 'e2e', testMatch: E2E_TESTS },
  ],
};
