import { defaultWireLimits, type ConfigurableWireLimits } from '../../protocol/limits.js';
import { commonEnv, eventBus, queues, retention, tables, type TableName } from '../../lib/definitions.js';

/**
 * Tunable limits; every one can be overridden by an environment variable of the same name in CONSTANT_CASE. The
 * ones clients see are defined (with their defaults) in the protocol module and reported by `hello`.
 */
export interface Limits extends ConfigurableWireLimits {
  /** Recipients per fanout job (one BatchGetItem of presence items). */
  fanoutChunkSize: number;
  /** Conversations up to this size are pushed from the send handler itself; larger ones go through SQS. */
  inlineFanoutMaxRecipients: number;
  /** Push attempts for one connection before the job is left to SQS redrive. */
  maxPushAttempts: number;
  /** A connection without a heartbeat for this long counts as offline. */
  presenceTtlSeconds: number;
  /** How long a clientMessageId is remembered for idempotent retries. */
  idempotencyTtlSeconds: number;
  /** How long an `undelivered` item is kept (it only needs to reach the table's stream). */
  undeliveredTtlSeconds: number;
  /** Longest token lifetime (`exp - iat`, and `exp - now`) the $connect authorizer accepts, in seconds. */
  maxTokenLifetimeSeconds: number;
  /** Tolerated clock difference to the token issuer: on `iat`/`nbf` in the future and on `exp` in the past. */
  clockSkewSeconds: number;
  /** Days messages stay readable unless a group sets its own (`MESSAGE_RETENTION_DAYS`); null keeps them forever. */
  messageRetentionDays: number | null;
}

/** Everything a handler needs to know about its environment. */
export interface Config {
  tables: Record<TableName, string>;
  fanoutQueueUrl: string;
  callbackUrl: string;
  jwksUrl: string;
  jwtIssuer: string;
  jwtAudience: string;
  /** The EventBridge bus the stream consumer publishes to. */
  eventBusName: string;
  limits: Limits;
}

const defaultLimits: Limits = {
  ...defaultWireLimits,
  fanoutChunkSize: 100,
  inlineFanoutMaxRecipients: 150,
  maxPushAttempts: 5,
  presenceTtlSeconds: 660,
  idempotencyTtlSeconds: 7 * 24 * 3600,
  undeliveredTtlSeconds: 24 * 3600,
  maxTokenLifetimeSeconds: 24 * 3600,
  clockSkewSeconds: 60,
  messageRetentionDays: null,
};

const constantCase = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** Reads limits from the environment, falling back to the defaults; rejects values that are not positive integers. */
export function loadLimits(env: NodeJS.ProcessEnv = process.env): Limits {
  const limits = { ...defaultLimits };
  for (const key of Object.keys(limits) as (keyof Limits)[]) {
    const raw = env[constantCase(key)];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`${constantCase(key)} must be a positive integer, got "${raw}"`);
    }
    if (key === 'messageRetentionDays' && value > retention.maxDays) {
      throw new Error(`${retention.envVar} must be at most ${retention.maxDays}, got "${raw}"`);
    }
    limits[key] = value;
  }
  return limits;
}

/** Builds the configuration from environment variables (set by CDK in AWS and by `local/` locally). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const tableNames = Object.fromEntries(Object.entries(tables).map(([name, def]) => [name, env[def.envVar] ?? ''])) as Record<TableName, string>;
  return {
    tables: tableNames,
    fanoutQueueUrl: env[queues.fanout.envVar] ?? '',
    callbackUrl: env[commonEnv.callbackUrl] ?? '',
    jwksUrl: env[commonEnv.jwksUrl] ?? '',
    jwtIssuer: env[commonEnv.jwtIssuer] ?? '',
    jwtAudience: env[commonEnv.jwtAudience] ?? '',
    eventBusName: env[eventBus.envVar] ?? '',
    limits: loadLimits(env),
  };
}
