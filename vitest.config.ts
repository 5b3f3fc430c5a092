import { defineConfig } from 'vitest/config';

// Lambda runs Node 22+; on the Node 20 of dev machines the SDK warns once per worker, which only buries test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// One project per test layer; `npm test` runs them all. Integration and e2e start the local stack themselves.
export default defineConfig({
  test: {
    projects: [
      {
        // Metrics collected but never printed; no tracing outside Lambda (the Tracer also checks AWS_EXECUTION_ENV), and
        // the X-Ray SDK in manual mode installs no async hook.
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_TRACE_ENABLED: 'false', AWS_XRAY_MANUAL_MODE: 'true' },
        },
      },
      { test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 180_000 } },
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
