import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  archive,
  commonEnv,
  connectAuthorizer,
  functionDefinition,
  optionalFunctions,
  serverApi,
  type webSocketLimits,
  type AnyFunctionName,
  type FunctionName,
  type QueueName,
  type StreamSourceDefinition,
  type StreamSourceName,
  type TableName,
} from '../lib/definitions.js';
import { mapRecord } from '../lib/records.js';
import { userIdSchema } from '../protocol/schemas.js';
import { WebSocketApiEmulator } from './apigw-websocket.js';
import { DynamoDbStreamPoller } from './dynamodb-stream-poller.js';
import { LocalEventBus } from './event-bus.js';
import { createDevAuth, devAudience, devIssuer, type DevAuth } from './dev-auth.js';
import { createTables, localCredentials, localRegion, startDynamoDb, startTtlSweeper } from './dynamodb.js';
import { installSdkFaults } from './faults.js';
import { installIamChecks, localAccount, LocalIam } from './iam.js';
import { LambdaRuntime, lambdaRuntimeVariables, type LambdaFunctionConfig } from './lambda-runtime.js';
import {
  functionSettings,
  queueSettings,
  rolePolicies,
  sqsEventSources,
  streamEventSources,
  synthesizeStack,
  tableSettings,
  webSocketApiSettings,
  type CfnTemplate,
} from './template.js';
import { installSqsContract } from './sqs-contract.js';
import { SqsLambdaPoller } from './sqs-lambda-poller.js';
import { startSqs } from './sqs.js';
import { serverApiDevCredentials, startServerApi } from './server-api.js';

/** How to run the local stack. */
export interface LocalStackOptions {
  /** Port of the WebSocket API and its `@connections` endpoint (0 = any free port). */
  wsPort?: number;
  /** Port of the web chat, the dev token issuer and the JWKS (0 = any free port). */
  httpPort?: number;
  /** Port of the server API (0 = any free port). */
  serverApiPort?: number;
  host?: string;
  /** Persist DynamoDB Local here; in memory when omitted. */
  dataDir?: string;
  /** Serve this directory (the built web chat) at `/`. */
  webDir?: string;
  /** Extra environment for every function, on top of its template's, e.g. limit overrides such as `SEND_RATE_PER_SECOND`. */
  env?: Record<string, string>;
  /** Overrides of API Gateway's limits, e.g. a short idle timeout. */
  limits?: Partial<typeof webSocketLimits>;
  /** Child processes that hold the WebSocket connections (default 0: the stack's process), for more connections than one process may hold open files. */
  socketProcesses?: number;
  /** Overrides the template's visibility timeout of the fanout queue (shorter in tests so retried records come back quickly). */
  fanoutVisibilityTimeoutSeconds?: number;
  /** Where emulator and integration failures are reported. */
  onError?: (message: string, error: unknown) => void;
  /** POST every event to this URL (default: `PARLEY_WEBHOOK_URL`), with `PARLEY_WEBHOOK_API_KEY` as `x-api-key`. */
  webhookUrl?: string;
  /** Print one line per event on the bus. */
  printEvents?: boolean;
  /** Where the stream pollers start (the definitions say TRIM_HORIZON; `npm start` keeps no checkpoints, so LATEST). */
  streamStartingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** First retry delay of the stream pollers and the webhook (shorter in tests). */
  retryBaseMs?: number;
  /** Caps every stream mapping's batching window (the archive gathers for a minute; tests do not wait that long). */
  streamBatchingWindowSeconds?: number;
  /** Run the archive consumer (`streamSources.archive`) on the messages stream, writing the bucket's layout into this folder. */
  archiveDir?: string;
  /** How often expired items are deleted (DynamoDB Local has no TTL of its own); default 60 s. */
  ttlSweepIntervalMs?: number;
  /**
   * Edits the synthesized template before the local stack reads it: role policies, each function's environment,
   * timeout, memory and reserved concurrency, the queues' attributes and redrive policies, and the SQS event source
   * mappings (fidelity tests remove a permission or a variable, shorten a timeout).
   */
  adjustTemplate?: (template: CfnTemplate) => void;
}

/** A running local Parley: everything a client or a test needs to reach it. */
export interface LocalStack {
  wsUrl: string;
  httpUrl: string;
  callbackUrl: string;
  jwksUrl: string;
  dynamodbEndpoint: string;
  sqsEndpoint: string;
  tableNames: Record<TableName, string>;
  queueUrls: Record<QueueName, string>;
  dlqUrls: Record<QueueName, string>;
  emulator: WebSocketApiEmulator;
  poller: SqsLambdaPoller;
  /** The client the poller receives and deletes with (the event source mapping's own SQS requests). */
  pollerSqs: SQSClient;
  devAuth: DevAuth;
  /** The server API (SigV4, service `execute-api`, region `serverApiRegion`) and the only credentials it accepts. */
  serverApiUrl: string;
  serverApiCredentials: typeof serverApiDevCredentials;
  serverApiRegion: string;
  /** The local EventBridge bus: received events, webhook dead letters; its control API is `${eventsUrl}/_events`. */
  eventBus: LocalEventBus;
  eventsUrl: string;
  /** The DynamoDB stream event source mappings, by stream source name (the archive's only with `archiveDir`). */
  streamPollers: Partial<Record<StreamSourceName, DynamoDbStreamPoller>>;
  /** Their on-failure queues. */
  streamDlqUrls: Partial<Record<StreamSourceName, string>>;
  /** Each function's role policy from the synthesized template, checked on every AWS call it makes. */
  iam: LocalIam;
  /** The functions' execution environments (containers, cold starts, timeouts, throttles), configured from the template. */
  lambdas: LambdaRuntime<AnyFunctionName>;
  /** Runs every function invocation (emulator and poller alike) through `wrapper`, e.g. to time or attribute it. */
  wrapInvocations(wrapper: InvokeWrapper | undefined): void;
  stop(): Promise<void>;
}

/** Wraps a function invocation; `run` performs it. */
export type InvokeWrapper = (name: AnyFunctionName, event: unknown, run: (name: AnyFunctionName, event: unknown) => Promise<unknown>) => Promise<unknown>;

/** The WebSocket API's stage name, which the template is synthesized with so its ARNs line up. */
const localStage = 'local';

/** The local bus's name (the consumer's EVENT_BUS_NAME). */
export const localEventBusName = 'parley-events';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Starts DynamoDB Local, the SQS emulator, the dev identity provider, the WebSocket API emulator and the fanout
 * poller, and runs the real handlers against them, each function in its own execution environments configured from
 * the synthesized template (local/lambda-runtime.ts).
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const host = options.host ?? '127.0.0.1';
  const onError = options.onError ?? ((message, error) => console.error(`[local] ${message}:`, error));
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const stopOne of stoppers.reverse()) await stopOne().catch((error: unknown) => onError('stopping failed', error));
  };
  try {
    const started = <T extends { stop(): Promise<void> }>(emulator: Promise<T>) =>
      emulator.then((running) => {
        stoppers.push(() => running.stop());
        return running;
      });
    // DynamoDB Local's JVM starts while the stack synthesizes.
    const dynamodbStarting = started(startDynamoDb({ dataDir: options.dataDir }));
    // What `cdk deploy` would create, configure and grant, read from the synthesized template, not from a second list here.
    const synthesized = synthesizeStack(localStage, { archive: options.archiveDir !== undefined });
    options.adjustTemplate?.(synthesized.template);
    const queueSettingsByName = queueSettings(synthesized);
    if (options.fanoutVisibilityTimeoutSeconds !== undefined) {
      queueSettingsByName.fanout.attributes.VisibilityTimeout = String(options.fanoutVisibilityTimeoutSeconds);
    }
    const [dynamodb, sqs, devAuth] = await Promise.all([dynamodbStarting, started(startSqs(queueSettingsByName)), createDevAuth()]);
    const tableNames = await createTables(dynamodb.client, 'parley-', tableSettings(synthesized));
    const sweeper = startTtlSweeper(dynamodb.client, tableNames, options.ttlSweepIntervalMs ?? 60_000, onError);
    stoppers.push(() => sweeper.stop());
    const queueName = (url: string) => url.split('/').pop()!;

    let wsUrl = '';
    const http = createServer(
      (request, response) =>
        void serveHttp(request, response, { devAuth, webDir: options.webDir, wsUrl: () => wsUrl }).catch((error: unknown) => {
          onError(`${request.method} ${request.url} failed`, error);
          if (!response.headersSent) response.writeHead(500).end();
        }),
    );
    const httpPort = await listen(http, options.httpPort ?? 0, host);
    stoppers.push(() => closeServer(http));
    const httpUrl = `http://${host}:${httpPort}`;
    const jwksUrl = `${httpUrl}/.well-known/jwks.json`;

    const eventBus = new LocalEventBus({
      busName: localEventBusName,
      host,
      webhookUrl: options.webhookUrl ?? (process.env.PARLEY_WEBHOOK_URL || undefined),
      webhookApiKey: process.env.PARLEY_WEBHOOK_API_KEY || undefined,
      retryBaseMs: options.retryBaseMs,
      print: options.printEvents,
      onError,
    });
    await eventBus.listen();
    stoppers.push(() => eventBus.stop());

    // The emulator must listen before the functions are configured: their CALLBACK_URL is its endpoint.
    let invoke: (name: AnyFunctionName, event: unknown) => Promise<unknown> = () => Promise.reject(new Error('handlers not loaded'));
    const emulator = new WebSocketApiEmulator({
      // The routes, their functions and route responses, and the authorizer as the template deploys them.
      ...webSocketApiSettings(synthesized),
      stage: localStage,
      invoke: (name, event) => invoke(name, event),
      port: options.wsPort ?? 0,
      host,
      limits: options.limits,
      onError,
      socketProcesses: options.socketProcesses,
    });
    await emulator.listen();
    stoppers.push(() => emulator.close());
    wsUrl = emulator.url;

    const localResources = {
      region: localRegion,
      tableNames,
      queueNames: mapRecord(sqs.queueUrls, queueName),
      deadLetterQueueNames: mapRecord(sqs.dlqUrls, queueName),
      webSocketApiId: emulator.apiId,
      queueUrls: sqs.queueUrls,
      eventBusName: localEventBusName,
    };
    const iam = new LocalIam(
      rolePolicies(synthesized, localResources),
      // A refusal is a missing grant in lib/: say so loudly, whatever the handler does with the error.
      (error) => onError('IAM denied a call', error),
    );
    // The emulator, the dev identity provider stand in for the stage and Cognito: their variables get local values.
    const settings = functionSettings(synthesized, localResources, {
      [commonEnv.callbackUrl]: emulator.callbackUrl,
      [commonEnv.jwksUrl]: jwksUrl,
      [commonEnv.jwtIssuer]: devIssuer,
      [commonEnv.jwtAudience]: devAudience,
    });
    const localVariables = (name: AnyFunctionName, memorySize: number): Record<string, string> => ({
      ...lambdaRuntimeVariables(name, { memorySize }, localRegion),
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBus.endpoint,
      AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      // Metrics are collected but not printed (no CloudWatch here), and there is no X-Ray daemon to trace to. Manual
      // mode keeps the X-Ray SDK from installing its async hook, which slows every promise even with tracing off.
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_XRAY_MANUAL_MODE: 'true',
      ...(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ? { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } : {}),
      ...options.env,
    });
    // The functions whose feature is on (as `-c archive=true` would deploy the archive consumer), as the template has them.
    const lambdaConfigs = mapRecord(settings as Record<AnyFunctionName, (typeof settings)[FunctionName]>, (setting, name): LambdaFunctionConfig => {
      const environment = { ...setting.environment, ...localVariables(name, setting.memorySize) };
      if (options.archiveDir && environment[archive.bucketEnvVar] !== undefined) {
        // The folder stands in for the bucket (the archive consumer writes it, the server API's erasure rewrites it).
        delete environment[archive.bucketEnvVar];
        environment[archive.directoryEnvVar] = options.archiveDir;
      }
      return { entry: functionDefinition(name).entry, ...setting, environment };
    });
    const lambdas = new LambdaRuntime<AnyFunctionName>(lambdaConfigs, {
      region: localRegion,
      // Every AWS call of an invocation is attributed to its function for the IAM check.
      around: (name, fn) => iam.currentFunction.run(name as AnyFunctionName, fn),
    });
    stoppers.push(() => lambdas.stop());
    await lambdas.build();
    // Each container builds its own SDK clients (lambdas/app/runtime.ts, connection-runtime.ts, archive-runtime.ts,
    // authorizer-runtime.ts): `dynamodb:*` and `sqs:*` faults and the IAM check are installed there. The archive's and
    // the authorizer's own clients get the IAM check only, so a DynamoDB fault test does not also refuse every connect.
    const arns = { region: localRegion, webSocketStage: `${emulator.apiId}/${emulator.stage}` };
    lambdas.onContainerModules((_name, { runtime, connection, archive: archiveRuntime, authorizer }) => {
      for (const own of [archiveRuntime?.ddb, authorizer?.ddb]) if (own) installIamChecks(own, 'dynamodb', iam, arns);
      const clients = runtime?.clients ?? connection?.clients;
      if (!clients) return;
      installSdkFaults(clients.ddb, 'dynamodb', emulator.faults);
      installSdkFaults(clients.sqs, 'sqs', emulator.faults);
      installSqsContract(clients.sqs);
      installIamChecks(clients.ddb, 'dynamodb', iam, arns);
      installIamChecks(clients.sqs, 'sqs', iam, arns);
      if (runtime) installIamChecks(runtime.clients.management, 'execute-api', iam, arns);
    });
    const run = (name: AnyFunctionName, event: unknown) => lambdas.invoke(name, event);
    let wrapper: InvokeWrapper | undefined;
    invoke = (name, event) => (wrapper ? wrapper(name, event, run) : run(name, event));
    const serverApiServer = await started(
      startServerApi({ host, port: options.serverApiPort ?? 0, invoke: (event) => invoke(serverApi.function, event), onError }),
    );
    // The bus shares the emulator's faults (`events:PutEvents`), so tests switch them on through one control API.
    eventBus.faults = emulator.faults;

    const sqsClient = new SQSClient({ endpoint: sqs.endpoint, region: localRegion, credentials: localCredentials });
    // The fanout queue's event source mapping, as the template configures it.
    const fanout = sqsEventSources(synthesized).fanout;
    if (!fanout) throw new Error('the template has no event source mapping for the fanout queue');
    const poller = new SqsLambdaPoller({
      sqs: sqsClient,
      queueUrl: sqs.queueUrls.fanout,
      queueArn: `arn:aws:sqs:${localRegion}:${localAccount}:${queueName(sqs.queueUrls.fanout)}`,
      batchSize: fanout.batchSize,
      maxBatchingWindowSeconds: fanout.maxBatchingWindowSeconds,
      reportBatchItemFailures: fanout.reportBatchItemFailures,
      // Lambda would scale to the maximum concurrency; two cores do not gain from more than a few pollers.
      concurrency: Math.min(fanout.maximumConcurrency ?? Infinity, 4),
      invoke: (event) => invoke(fanout.consumer, event) as Promise<never>,
      onError,
      faults: emulator.faults,
    });
    poller.start();
    stoppers.push(async () => {
      await poller.stop();
      sqsClient.destroy();
    });

    // One poller per stream event source mapping of the template.
    const streamsClient = new DynamoDBStreamsClient({ endpoint: dynamodb.endpoint, region: localRegion, credentials: localCredentials });
    const streamPollers: Partial<Record<StreamSourceName, DynamoDbStreamPoller>> = {};
    const streamDlqUrls: Partial<Record<StreamSourceName, string>> = {};
    for (const [name, definition] of Object.entries(streamEventSources(synthesized)) as [StreamSourceName, StreamSourceDefinition][]) {
      const window = Math.min(definition.maxBatchingWindowSeconds, options.streamBatchingWindowSeconds ?? Infinity);
      const source = { ...definition, maxBatchingWindowSeconds: window };
      const dlqUrl = sqs.server.createQueue(`parley-${name}-stream-dlq`, {
        attributes: { MessageRetentionPeriod: String(source.dlqRetentionDays * 24 * 3600) },
      }).queueUrl;
      streamDlqUrls[name] = dlqUrl;
      const streamPoller = new DynamoDbStreamPoller({
        dynamodb: dynamodb.client,
        streams: streamsClient,
        tableName: tableNames[source.table],
        source,
        invoke: (event) => invoke(source.consumer, event) as Promise<never>,
        sqs: sqsClient,
        dlqUrl,
        functionArn: `arn:aws:lambda:${localRegion}:000000000000:function:parley-${source.consumer}`,
        startingPosition: options.streamStartingPosition,
        retryBaseMs: options.retryBaseMs,
        // `streams:crash` targets the event consumer; the archive reads the same records and would take its faults.
        faults: source.consumer in optionalFunctions ? undefined : emulator.faults,
        onError,
      });
      streamPoller.start();
      streamPollers[name] = streamPoller;
    }
    stoppers.push(async () => {
      await Promise.all(Object.values(streamPollers).map((streamPoller) => streamPoller.stop()));
      streamsClient.destroy();
    });
    return {
      wsUrl,
      httpUrl,
      callbackUrl: emulator.callbackUrl,
      jwksUrl,
      dynamodbEndpoint: dynamodb.endpoint,
      sqsEndpoint: sqs.endpoint,
      tableNames,
      queueUrls: sqs.queueUrls,
      dlqUrls: sqs.dlqUrls,
      emulator,
      poller,
      pollerSqs: sqsClient,
      devAuth,
      serverApiUrl: serverApiServer.url,
      serverApiCredentials: serverApiDevCredentials,
      serverApiRegion: localRegion,
      eventBus,
      eventsUrl: eventBus.endpoint,
      streamPollers,
      streamDlqUrls,
      iam,
      lambdas,
      wrapInvocations: (next) => {
        wrapper = next;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface HttpContext {
  devAuth: DevAuth;
  webDir?: string;
  wsUrl: () => string;
}

/** The dev identity provider (`/dev/token`, JWKS), `/config.json` for the web chat, and the web chat's files. */
async function serveHttp(request: IncomingMessage, response: ServerResponse, context: HttpContext): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const json = (status: number, body: unknown) => {
    response.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));
  };
  if (url.pathname === '/dev/token') {
    const user = url.searchParams.get('user') ?? '';
    const valid = userIdSchema.safeParse(user);
    if (!valid.success) return json(400, { error: `user ${valid.error.issues[0]?.message ?? 'is invalid'}` });
    const expiresInSeconds = Number(url.searchParams.get('expiresIn') ?? 12 * 3600);
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds <= 0) return json(400, { error: 'expiresIn must be a positive integer' });
    return json(200, { token: await context.devAuth.issueToken(user, { expiresInSeconds }), userId: user, expiresInSeconds });
  }
  if (url.pathname === '/.well-known/jwks.json') return json(200, context.devAuth.jwks);
  if (url.pathname === '/config.json') {
    // Use the host the browser reached us on, so the chat also works from another device on the network.
    const wsUrl = new URL(context.wsUrl());
    const hostname = request.headers.host?.replace(/:\d+$/, '');
    if (hostname) wsUrl.hostname = hostname;
    return json(200, { wsUrl: wsUrl.toString().replace(/\/$/, ''), tokenProtocol: connectAuthorizer.subprotocol });
  }
  if (!context.webDir || (request.method !== 'GET' && request.method !== 'HEAD')) return json(404, { error: 'not found' });
  const root = normalize(context.webDir);
  const path = normalize(join(root, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
  if (!path.startsWith(root + sep)) return json(404, { error: 'not found' });
  try {
    const body = await readFile(path);
    response.writeHead(200, { 'Content-Type': contentTypes[extname(path)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
    response.end(request.method === 'HEAD' ? undefined : body);
  } catch {
    json(404, { error: 'not found' });
  }
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as { port: number }).port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
