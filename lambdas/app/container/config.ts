import { loadConfig } from '../../shared/config.js';

/** This container's configuration, read from the environment once, at module load. */
export const config = loadConfig();
