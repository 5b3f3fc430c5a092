import * as z from 'zod/mini';
import { serverApi } from '../../lib/definitions.js';
import { loadLimits } from '../shared/config.js';
import { errorStatus } from './server-router.js';
import { serverSchemas, type OperationSchema } from './server-schemas.js';

const schemaOf = (schema: z.ZodMiniType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

const errorResponse = {
  description: 'A JSON error naming the field or the reason',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

/** The server API as an OpenAPI 3.1 document, generated from the routes and request schemas (default limits). */
export function serverDocument(): Record<string, unknown> {
  const schemas = serverSchemas(loadLimits({}));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of serverApi.routes) {
    const schema: OperationSchema = schemas[route.operation];
    const parameters: unknown[] = [];
    for (const [location, part] of [
      ['path', schema.params],
      ['query', schema.query],
    ] as const) {
      if (!part) continue;
      const json = schemaOf(part) as { properties: Record<string, unknown>; required?: string[] };
      for (const [name, property] of Object.entries(json.properties)) {
        parameters.push({ name, in: location, required: location === 'path' || (json.required ?? []).includes(name), schema: property });
      }
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: route.operation,
      summary: route.summary,
      security: [{ sigv4: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(schema.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(schema.body) } } } } : {}),
      responses: {
        '200': { description: 'Done (a repeated idempotent request answers 200 too)', content: { 'application/json': { schema: { type: 'object' } } } },
        ...(route.operation === 'createConversation' || route.operation === 'postMessage' ? { '201': { description: 'Created' } } : {}),
        '403': { description: 'Missing or invalid SigV4 signature (API Gateway), or forbidden by the domain' },
        default: errorResponse,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Parley server API', version: '1', description: "IAM-authorized API for the app's backend; see docs/SERVER-API.md." },
    paths,
    components: {
      securitySchemes: {
        sigv4: { type: 'apiKey', name: 'Authorization', in: 'header', description: 'AWS SigV4, service execute-api' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string', enum: Object.keys(errorStatus) }, message: { type: 'string' } },
        },
      },
    },
  };
}
