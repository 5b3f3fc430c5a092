/**
 * How every Lambda handler is bundled: read by the CDK construct (lib/parley-function.ts) and by the cold-start
 * bench (bench/cold-start.ts), so that what the bench measures is what deploys.
 */

/** esbuild target; the functions run on Lambda's nodejs22.x runtime. */
export const bundleTarget = 'node22';

/** Prefers the packages' ES module builds (the AWS SDK's `dist-es`), which esbuild can tree-shake. */
export const bundleMainFields = ['module', 'main'];

/** Lets bundled CommonJS dependencies call require() inside the ES module. */
export const bundleBanner = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

/**
 * The only modules left out of the bundles: the links of the SDK's default credential chain after the environment
 * one. The chain loads them with `import()` only when no credentials are in the environment, and Lambda always puts
 * the function's role credentials there, so a deployed function never loads them (were one ever reached, Lambda's
 * own SDK v3 copy answers). Together with the SSO/STS clients they pull in, they were ~85 KB of every bundle.
 * Everything else of the SDK stays bundled: a pinned, tree-shaken version.
 */
export const bundleExternalModules = [
  '@aws-sdk/credential-provider-http',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-web-identity',
  '@smithy/credential-provider-imds',
];
