/**
 * Parley's wire protocol, one source for the server, the SDK and PROTOCOL.md. The SDK imports `limits.ts` and
 * `actions.ts` (runtime-free of zod) and only types from `schemas.ts`.
 */
export * from './actions.js';
export * from './limits.js';
export * from './schemas.js';
export * from './frames.js';
