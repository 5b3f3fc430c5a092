import { type CfnElement, CfnOutput, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, type HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Grant, ManagedPolicy, PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { serverApi } from './definitions.js';

/** Props of `ParleyServerApi`. */
export interface ParleyServerApiProps {
  /** The server API function (`definitions.serverApi.function`). */
  readonly handler: IFunction;
  readonly devStack: boolean;
}

/** One access log line per request; IAM callers are named by their ARN, never by their signature. */
export const serverApiAccessLogFields = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  status: '$context.status',
  caller: '$context.identity.userArn',
  sourceIp: '$context.identity.sourceIp',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
};

/**
 * The server API for the app's backend: an HTTP API whose every route (from `definitions.serverApi`) is `AWS_IAM`,
 * integrated with the server API function. `grantInvoke(role)` or the `invokePolicy` managed policy let a backend
 * role call it; end users never can (their JWTs are no SigV4 signature).
 */
export class ParleyServerApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  /** Allows execute-api:Invoke on exactly the server API's routes; attach it to the backend's role. */
  readonly invokePolicy: ManagedPolicy;
  private readonly routeArns: string[];

  constructor(scope: Construct, id: string, props: ParleyServerApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      description: "Parley server API for the app's backend (IAM)",
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.devStack ? RetentionDays.ONE_WEEK : RetentionDays.THREE_MONTHS,
      removalPolicy: props.devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(serverApiAccessLogFields)),
      },
    });
    const integration = new HttpLambdaIntegration('Integration', props.handler);
    for (const route of serverApi.routes) {
      this.api.addRoutes({ path: route.path, methods: [route.method as HttpMethod], integration });
    }
    // `{param}` segments become `*` in execute-api ARNs.
    this.routeArns = serverApi.routes.map((route) => this.api.arnForExecuteApi(route.method, route.path.replace(/\{\w+\}/g, '*'), '*'));
    this.invokePolicy = new ManagedPolicy(this, 'InvokePolicy', {
      description: 'Lets the app backend call the Parley server API',
      statements: [this.invokeStatement()],
    });
    // cdk-nag names each finding by the resource as synthesized: pseudo parameters unless the stack's env is known.
    const stack = Stack.of(this);
    const known = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value);
    const apiId = stack.resolve((this.api.node.defaultChild as CfnElement).logicalId) as string;
    for (const route of serverApi.routes) {
      const path = route.path.replace(/\{\w+\}/g, '*');
      Validations.of(this.invokePolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:${known(stack.region, 'Region')}:${known(stack.account, 'AccountId')}:<${apiId}>/*/${route.method}${path}]`,
        reason: 'One route of this API; the wildcards stand for the stage and the path parameters (conversation and user ids).',
      });
    }
    new CfnOutput(Stack.of(this), 'ServerApiUrl', { value: this.api.apiEndpoint, description: 'Server API (SigV4, service execute-api)' });
    new CfnOutput(Stack.of(this), 'ServerApiInvokePolicyArn', {
      value: this.invokePolicy.managedPolicyArn,
      description: "Attach to the app backend's role to call the server API",
    });
  }

  /** Lets `grantee` (the app backend's role) call every route of the server API. */
  grantInvoke(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: this.routeArns });
  }

  private invokeStatement(): PolicyStatement {
    return new PolicyStatement({ actions: ['execute-api:Invoke'], resources: this.routeArns });
  }
}
