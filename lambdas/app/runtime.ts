import { createAwsClients } from '../shared/aws-clients.js';
import { loadConfig } from '../shared/config.js';
import { createDeps } from './deps.js';

/** Configuration, SDK clients and domain dependencies, built once per Lambda container at module load. */
export const config = loadConfig();
export const clients = createAwsClients(config);
export const deps = createDeps(config, clients);
