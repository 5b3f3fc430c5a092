import { actionsHandler } from './actions.js';

/** The catch-up actions (`catchupActions` in lib/definitions.ts): the same router as every action, in its own function. */
export const handler = actionsHandler('catchup');
