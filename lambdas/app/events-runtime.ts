import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher.js';
import { loadConfig } from '../shared/config.js';

/** The event bus client and publisher of the stream consumer, built once per Lambda container. */
export const eventsClient = new EventBridgeClient({ maxAttempts: 3 });
export const publisher = new EventBridgePublisher(eventsClient, loadConfig().eventBusName);
