import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ParleyConfig } from './config.js';
import { connectAuthorizer, routes, routeSelectionExpression, type FunctionName } from './definitions.js';

/** Props of `ParleyWebSocketApi`. */
export interface ParleyWebSocketApiProps {
  readonly stageName: string;
  readonly throttle: ParleyConfig['throttle'];
  readonly devStack: boolean;
  /** Also set the account-wide CloudWatch role API Gateway needs to write any logs. */
  readonly apiGatewayLogsRole: boolean;
}

/**
 * One access log line per connect, message and disconnect, as JSON. It names the request, connection, route and
 * outcome, never the query string or headers: the token travels in them.
 */
export const accessLogFields = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  connectionId: '$context.connectionId',
  messageId: '$context.messageId',
  status: '$context.status',
  sourceIp: '$context.identity.sourceIp',
  integrationLatency: '$context.integrationLatency',
  integrationStatus: '$context.integrationStatus',
  authorizerStatus: '$context.authorizer.status',
  authorizerLatency: '$context.authorizer.latency',
  authorizerError: '$context.authorizer.error',
  error: '$context.error.message',
  integrationError: '$context.integration.error',
};

/** The WebSocket API and its stage: access logs, default route throttling and, via `addRoutes`, every route. */
export class ParleyWebSocketApi extends Construct {
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ParleyWebSocketApiProps) {
    super(scope, id);
    this.api = new WebSocketApi(this, 'Api', {
      description: 'Parley real-time messaging',
      routeSelectionExpression,
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.devStack ? RetentionDays.ONE_WEEK : RetentionDays.THREE_MONTHS,
      removalPolicy: props.devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName,
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(accessLogFields)),
      },
    });
    if (props.apiGatewayLogsRole) this.setAccountLogsRole();
  }

  /**
   * API Gateway writes WebSocket logs only when the account names a CloudWatch role (one per account and region).
   * Role and setting stay behind when the stack is deleted, even a dev stack: other APIs in the account may rely on them.
   */
  private setAccountLogsRole(): void {
    const role = new Role(this, 'CloudWatchRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: 'The AWS-managed policy API Gateway documents for its account-level logging role; it creates its own log groups.',
    });
    const account = new CfnAccount(this, 'Account', { cloudWatchRoleArn: role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.stage.node.addDependency(account);
  }

  /** Adds every route of `definitions.routes` with its function's integration, and the authorizer on $connect. */
  addRoutes(handlers: Record<FunctionName, IFunction>): void {
    // No identity sources: API Gateway would answer 401 unless all of them were present, but the token comes in
    // either the query string or the Sec-WebSocket-Protocol header. The authorizer itself rejects a missing token.
    const authorizer = new WebSocketLambdaAuthorizer('ConnectAuthorizer', handlers[connectAuthorizer.function], {
      identitySource: [],
    });
    const integrations = new Map<FunctionName, WebSocketLambdaIntegration>();
    for (const route of routes) {
      let integration = integrations.get(route.function);
      if (!integration) {
        integration = new WebSocketLambdaIntegration(`${route.function}Integration`, handlers[route.function]);
        integrations.set(route.function, integration);
      }
      const isConnect = route.routeKey === '$connect';
      const added = this.api.addRoute(route.routeKey, {
        integration,
        returnResponse: route.returnResponse,
        authorizer: isConnect ? authorizer : undefined,
      });
      if (!isConnect) {
        Validations.of(added).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: 'WebSocket APIs authorize on $connect only; every later route runs on that authenticated connection.',
        });
      }
    }
  }
}
