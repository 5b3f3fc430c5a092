/**
 * A test-only handler for the local Lambda runtime's tests: it reports the environment it sees at initialization and
 * per invocation and how many invocations its module instance (its container) has served, and can hold, sleep, or
 * make an SDK call through the handler runtime's clients.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { clients } from '../../lambdas/app/runtime.js';

const initEnvironment = { ...process.env };
let invocations = 0;

/** What a test asks of one invocation. */
export interface FixtureEvent {
  /** Resolves when the invocation may finish (the runtime runs in-process, so the event can carry a promise). */
  hold?: Promise<void>;
  sleepMs?: number;
  /** After holding or sleeping, read an item through the container's DynamoDB client. */
  call?: boolean;
}

export async function handler(event: FixtureEvent) {
  invocations += 1;
  await event.hold;
  if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
  if (event.call) await clients.ddb.send(new GetCommand({ TableName: 'fixture', Key: { id: '1' } })).catch(() => undefined);
  return { environment: { ...process.env }, initEnvironment, invocations };
}
