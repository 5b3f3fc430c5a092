import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyResultV2 } from 'aws-lambda';
import { archiveStoreFromEnv } from '../app/archive-deps.js';
import { deps } from '../app/runtime.js';
import { createServerRouter, operationOf } from '../app/server-router.js';

// With the archive on (`-c archive=true`), erasure rewrites its objects as `npm run erase-user` does.
const route = createServerRouter(deps, archiveStoreFromEnv(process.env));

const json = (statusCode: number, body: unknown): APIGatewayProxyResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** The server API (HTTP API, every route AWS_IAM): one JSON response per request. */
export const handler = async (event: APIGatewayProxyEventV2WithIAMAuthorizer): Promise<APIGatewayProxyResultV2> => {
  const operation = operationOf(event.routeKey);
  if (!operation) return json(404, { code: 'not_found', message: `no route ${event.routeKey}` });
  const result = await route({
    operation,
    pathParameters: event.pathParameters ?? {},
    query: event.queryStringParameters ?? {},
    body: event.body,
    isBase64Encoded: event.isBase64Encoded,
  });
  return json(result.status, result.body);
};
