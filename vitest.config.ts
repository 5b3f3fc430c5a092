import { defineConfig } from 'vitest/config';

// Lambda runs Node 22+; on the Node 20 of dev machines the SDK warns once per worker, which only buries test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const unitEnv = { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_TRACE_ENABLED: 'false', AWS_XRAY_MANUAL_MODE: 'true' };
/** Unit tests that need a module cache of their own: they mock modules (vi.mock) or set process.env before imports. */
const isolatedUnitTests = ['test/unit/telemetry.test.ts'];

// One project per test layer; `npm test` runs them all. Integration and e2e start the local stack themselves.
export default defineConfig({
  test: {
    projects: [
      {
        // Metrics collected but never printed; no tracing outside Lambda (the Tracer also checks AWS_EXECUTION_ENV), and
        // the X-Ray SDK in manual mode installs no async hook.
        // Files share one module cache (isolate: false): importing the SDKs and handlers once instead of per file cuts the
        // project from ~33 s to ~12 s. A file that mocks modules or sets process.env before imports goes in `unit-isolated`.
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: isolatedUnitTests,
          isolate: false,
          env: unitEnv,
        },
      },
      { test: { name: 'unit-isolated', include: isolatedUnitTests, env: unitEnv } },
      // One module cache for the synth tests too: aws-cdk-lib and the bundler load once (~78 s -> ~27 s).
      { test: { name: 'infra', include: ['test/infra/**/*.test.ts'], isolate: false, testTimeout: 180_000, hookTimeout: 180_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/local-stack.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/setup/local-stack.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
