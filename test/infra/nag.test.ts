import { Validations, type PolicyViolation } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ParleyConfig } from '../../lib/config.js';
import { synthesize } from './synth.js';

const variants: [string, Partial<ParleyConfig>][] = [
  ['production on Cognito', {}],
  [
    'dev stack on an external IdP with alarm mail',
    {
      devStack: true,
      alarmEmail: 'ops@example.com',
      oidc: { issuer: 'https://idp.example.com/', audience: 'parley', jwksUrl: 'https://idp.example.com/jwks.json' },
    },
  ],
  ['with the webhook target', { webhook: { url: 'https://hooks.example.com/parley', secretName: 'parley/webhook', apiKeyHeader: 'x-api-key' } }],
  ['production with retention and the Parquet archive', { archive: true, messageRetentionDays: 365 }],
];

/** Every acknowledgment in the tree: the construct it sits on, the rule (finding) id and the reason. */
function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([key, reason]) => ({
          path: construct.node.path,
          id: key.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

const describeViolations = (violations: PolicyViolation[]) =>
  violations.map((violation) => `${violation.severity} ${violation.ruleName}: ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`);

describe.each(variants)('cdk-nag AwsSolutions: %s', (_, config) => {
  // The checks read the construct tree, not the assets, so bundling is skipped.
  const { app, cleanup } = synthesize(config, { bundle: false });
  afterAll(cleanup);

  it('reports no unacknowledged errors or warnings', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);
    expect(describeViolations(report.violations)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('acknowledges only findings that exist, each with a reason', () => {
    const unfiltered = new AwsSolutionsChecks(undefined, { verbose: true });
    // Run the same rules as if nothing were acknowledged.
    (unfiltered as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
    const findings = unfiltered.validateScope(app).violations;
    const acknowledged = acknowledgments(app);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { path, id, reason } of acknowledged) {
      expect(reason.length, `${id} on ${path} needs a real justification`).toBeGreaterThan(40);
      const finding = findings.find(
        (violation) =>
          violation.ruleName === id &&
          violation.violatingResources.some(({ constructPath = '' }) => constructPath === path || constructPath.startsWith(`${path}/`)),
      );
      expect(finding, `${id} is acknowledged on ${path} but not reported there`).toBeDefined();
    }
  });
});
