import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from '../lib/config.js';
import { ParleyStack } from '../lib/parley-stack.js';

const app = new App();
const config = configFromContext(app.node);
// Every synth and deploy is checked against the AWS Solutions rules; findings fail the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

new ParleyStack(app, (app.node.tryGetContext('stackName') as string | undefined) ?? 'Parley', {
  config,
  description: 'Parley: real-time messaging on API Gateway WebSockets, Lambda, DynamoDB and SQS',
  // Deploys to the account and region of the current AWS credentials (CDK_DEFAULT_*); synth needs neither.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
