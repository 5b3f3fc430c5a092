import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { serverApi, type ServerRouteDefinition } from '../lib/definitions.js';
import { localRegion } from './dynamodb.js';
import { readBody, sendJson, SignatureVerifier } from './sigv4.js';

/** The only credentials the local server API accepts: what a backend role's keys are on AWS. Printed by `npm start`. */
export const serverApiDevCredentials = { accessKeyId: 'AKIAPARLEYLOCALDEV01', secretAccessKey: 'parley-local-server-api-secret' };
const devAccountId = '000000000000';
const devUserArn = `arn:aws:iam::${devAccountId}:user/parley-local-backend`;
/** HTTP APIs take request bodies up to 10 MB. */
const maxPayloadBytes = 10 * 1024 * 1024;

/** A running local server API. */
export interface LocalServerApi {
  url: string;
  stop(): Promise<void>;
}

interface MatchedRoute {
  route: ServerRouteDefinition;
  pathParameters: Record<string, string>;
}

/**
 * Matches a request path against the route templates, as API Gateway does: `{name}` is one path segment, and where
 * several routes match, the most specific wins (a literal segment before a parameter, from the left).
 */
function match(method: string, path: string): MatchedRoute | undefined {
  const segments = path.split('/').slice(1);
  const literals = (route: ServerRouteDefinition) =>
    route.path
      .split('/')
      .map((part) => (part.startsWith('{') ? '0' : '1'))
      .join('');
  const candidates = (serverApi.routes as readonly ServerRouteDefinition[]).filter((route) => route.method === method);
  for (const route of candidates.sort((a, b) => literals(b).localeCompare(literals(a)))) {
    const template = route.path.split('/').slice(1);
    if (template.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    const same = template.every((part, index) => {
      const name = part.match(/^\{(\w+)\}$/)?.[1];
      if (name) {
        pathParameters[name] = segments[index]!;
        return segments[index] !== '';
      }
      return part === segments[index];
    });
    if (same) return { route, pathParameters };
  }
  return undefined;
}

/** The HTTP API v2 event API Gateway sends for an IAM-authorized route. */
function eventOf(request: IncomingMessage, url: URL, matched: MatchedRoute, body: Buffer, host: string): APIGatewayProxyEventV2WithIAMAuthorizer {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), Array.isArray(value) ? value.join(',') : (value ?? '')]),
  );
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const routeKey = `${matched.route.method} ${matched.route.path}`;
  const now = new Date();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(url.search ? { queryStringParameters: query } : {}),
    ...(Object.keys(matched.pathParameters).length ? { pathParameters: matched.pathParameters } : {}),
    ...(body.length ? { body: body.toString('utf8') } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId: devAccountId,
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: matched.route.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
      authorizer: {
        iam: {
          accessKey: serverApiDevCredentials.accessKeyId,
          accountId: devAccountId,
          callerId: 'AIDAPARLEYLOCALDEV',
          cognitoIdentity: null as never,
          principalOrgId: null as never,
          userArn: devUserArn,
          userId: 'AIDAPARLEYLOCALDEV',
        },
      },
    },
  };
}

/**
 * The server API as API Gateway serves it: route matching from `definitions.serverApi`, AWS_IAM on every route (SigV4
 * with service `execute-api`, checked by re-signing with `@smithy/signature-v4`), and the HTTP API v2 event to the
 * server API function.
 */
export async function startServerApi(options: {
  host: string;
  port: number;
  invoke: (event: APIGatewayProxyEventV2WithIAMAuthorizer) => Promise<unknown>;
  onError: (message: string, error: unknown) => void;
}): Promise<LocalServerApi> {
  const signature = new SignatureVerifier(serverApiDevCredentials, localRegion);
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const matched = match(request.method ?? 'GET', url.pathname);
    if (!matched) return sendJson(response, 404, { message: 'Not Found' });
    const { body, size, sha256 } = await readBody(request, maxPayloadBytes + 1);
    // AWS_IAM is checked before the integration runs, so an unsigned call reaches no code.
    const denied = await signature.verify(request, sha256);
    if (denied) return sendJson(response, 403, { message: denied.message }, denied.type);
    if (size > maxPayloadBytes) return sendJson(response, 413, { message: 'Request Entity Too Large' });
    const result = (await options.invoke(eventOf(request, url, matched, body, request.headers.host ?? options.host))) as APIGatewayProxyStructuredResultV2;
    const payload = result.body ?? '';
    response.writeHead(result.statusCode ?? 200, { 'Content-Type': 'application/json', ...result.headers, 'Content-Length': Buffer.byteLength(payload) });
    response.end(payload);
  };
  const server: Server = createServer(
    (request, response) =>
      void handle(request, response).catch((error: unknown) => {
        options.onError(`server API ${request.method} ${request.url} failed`, error);
        // What API Gateway answers when the integration fails.
        if (!response.headersSent) sendJson(response, 500, { message: 'Internal Server Error' });
      }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${options.host}:${port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
