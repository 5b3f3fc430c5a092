/** `npm run openapi`: writes docs/openapi.json from the server API's routes and the zod schemas its handler validates with. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverDocument } from '../lambdas/app/server-openapi.js';

const path = join(import.meta.dirname, '..', 'docs', 'openapi.json');
writeFileSync(path, `${JSON.stringify(serverDocument(), null, 2)}\n`);
console.log(`wrote ${path}`);
