import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { serverDocument } from '../../lambdas/app/server-openapi.js';
import { serverApi } from '../../lib/definitions.js';

describe('docs/openapi.json', () => {
  it('is what `npm run openapi` generates from the schemas (run it after changing the server API)', () => {
    const committed = readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8');
    expect(committed).toBe(`${JSON.stringify(serverDocument(), null, 2)}\n`);
  });

  it('documents every route with its operation id', () => {
    const document = serverDocument() as { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
    expect(document.openapi).toBe('3.1.0');
    for (const route of serverApi.routes) expect(document.paths[route.path]?.[route.method.toLowerCase()]?.operationId).toBe(route.operation);
  });
});
