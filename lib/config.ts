import { archive, retention } from './definitions.js';
import type { Node } from 'constructs';

/** An external OpenID Connect provider that issues the tokens clients connect with. */
export interface OidcSettings {
  /** Expected `iss` claim, e.g. `https://login.example.com/`. */
  readonly issuer: string;
  /** Expected `aud` claim. */
  readonly audience: string;
  /** Where the provider publishes its signing keys. */
  readonly jwksUrl: string;
}

/** An HTTPS endpoint that receives every Parley event (an EventBridge API destination). */
export interface WebhookSettings {
  /** Where events are POSTed. */
  readonly url: string;
  /** Name or ARN of the Secrets Manager secret whose value is sent as the API key; it never enters the template. */
  readonly secretName: string;
  /** The header carrying the API key. */
  readonly apiKeyHeader: string;
}

/** Deployment settings of a Parley stack; `configFromContext` reads them from CDK context. */
export interface ParleyConfig {
  /** WebSocket API stage, which is also the last path segment of the URL. */
  readonly stageName: string;
  /** A throwaway stack: every resource is destroyed with the stack and nothing is retained. */
  readonly devStack: boolean;
  /** Token verification against your own IdP; without it the stack creates a Cognito user pool. */
  readonly oidc?: OidcSettings;
  /** The token claim that becomes the user id. */
  readonly userIdClaim: string;
  /** Receives alarm notifications (an SNS email subscription). */
  readonly alarmEmail?: string;
  /** Default route throttling of the stage (requests per second, steady state and burst). */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  /** Alarm threshold for the p99 integration latency, in milliseconds. */
  readonly latencyP99ThresholdMs: number;
  /** Alarm threshold for the p99 fanout lag (a message's createdAt to its push), in milliseconds. */
  readonly fanoutLagP99ThresholdMs: number;
  /** Creates the account-wide role that lets API Gateway write logs; turn off when the account already has one. */
  readonly apiGatewayLogsRole: boolean;
  /** Forwards every event on the bus to a webhook; off unless `webhookUrl` is set. */
  readonly webhook?: WebhookSettings;
  /** Days messages stay readable unless a group sets its own; unset keeps them forever. */
  readonly messageRetentionDays?: number;
  /** Also write every timeline item to the Parquet archive in S3. */
  readonly archive: boolean;
  /**
   * Reserved concurrency of the catch-up function (`sync`, `history`, `listConversations`): at most this many
   * catch-up requests run at once, and they never take the account concurrency live sends need. Unset reserves none
   * (new accounts may lack the unreserved concurrency a reservation needs); throttled requests get API Gateway's error
   * frame and clients retry.
   */
  readonly catchupReservedConcurrency?: number;
}

/** The values used for every setting the context leaves out. */
export const defaultConfig: ParleyConfig = {
  stageName: 'prod',
  devStack: false,
  userIdClaim: 'sub',
  throttle: { rateLimit: 1000, burstLimit: 2000 },
  latencyP99ThresholdMs: 200,
  fanoutLagP99ThresholdMs: 200,
  apiGatewayLogsRole: true,
  archive: false,
};

// Context values arrive as strings from `-c key=value` and as JSON values from cdk.json.
const asString = (value: unknown): string | undefined => (value === undefined || value === null || value === '' ? undefined : String(value));

const asBoolean = (key: string, value: unknown, fallback: boolean): boolean => {
  const text = asString(value);
  if (text === undefined) return fallback;
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new Error(`context ${key} must be true or false, got "${text}"`);
};

const asPositiveNumber = (key: string, value: unknown, fallback: number): number => {
  const text = asString(value);
  if (text === undefined) return fallback;
  const number = Number(text);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`context ${key} must be a positive number, got "${text}"`);
  return number;
};

const positiveInteger = (key: string, value: unknown): number | undefined => {
  const text = asString(value);
  if (text === undefined) return undefined;
  const number = Number(text);
  if (!Number.isInteger(number) || number < 1) throw new Error(`context ${key} must be a whole number from 1, got "${text}"`);
  return number;
};

const retentionDays = (value: unknown): number | undefined => {
  const text = asString(value);
  if (text === undefined) return undefined;
  const days = Number(text);
  if (!Number.isInteger(days) || days < 1 || days > retention.maxDays) {
    throw new Error(`context ${retention.contextKey} must be a whole number of days from 1 to ${retention.maxDays}, got "${text}"`);
  }
  return days;
};

/**
 * Reads the stack settings from CDK context (`-c key=value` or cdk.json): stageName, devStack, oidcIssuer,
 * oidcAudience, oidcJwksUrl, userIdClaim, alarmEmail, throttleRateLimit, throttleBurstLimit, latencyP99ThresholdMs,
 * fanoutLagP99ThresholdMs, apiGatewayLogsRole, webhookUrl, webhookSecretName, webhookApiKeyHeader, messageRetentionDays,
 * archive, catchupReservedConcurrency.
 */
export function configFromContext(node: Node): ParleyConfig {
  const get = (key: string) => node.tryGetContext(key) as unknown;
  const stageName = asString(get('stageName')) ?? defaultConfig.stageName;
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(stageName)) throw new Error(`context stageName "${stageName}" is not a valid stage name`);

  const oidcValues = { issuer: asString(get('oidcIssuer')), audience: asString(get('oidcAudience')), jwksUrl: asString(get('oidcJwksUrl')) };
  const given = Object.values(oidcValues).filter((value) => value !== undefined).length;
  if (given !== 0 && given !== 3) throw new Error('set all of oidcIssuer, oidcAudience and oidcJwksUrl, or none (for Cognito)');
  const oidc = given === 3 ? (oidcValues as OidcSettings) : undefined;
  const webhook = webhookFromContext(get);

  return {
    stageName,
    devStack: asBoolean('devStack', get('devStack'), defaultConfig.devStack),
    oidc,
    userIdClaim: asString(get('userIdClaim')) ?? defaultConfig.userIdClaim,
    alarmEmail: asString(get('alarmEmail')),
    throttle: {
      rateLimit: asPositiveNumber('throttleRateLimit', get('throttleRateLimit'), defaultConfig.throttle.rateLimit),
      burstLimit: asPositiveNumber('throttleBurstLimit', get('throttleBurstLimit'), defaultConfig.throttle.burstLimit),
    },
    latencyP99ThresholdMs: asPositiveNumber('latencyP99ThresholdMs', get('latencyP99ThresholdMs'), defaultConfig.latencyP99ThresholdMs),
    fanoutLagP99ThresholdMs: asPositiveNumber('fanoutLagP99ThresholdMs', get('fanoutLagP99ThresholdMs'), defaultConfig.fanoutLagP99ThresholdMs),
    apiGatewayLogsRole: asBoolean('apiGatewayLogsRole', get('apiGatewayLogsRole'), defaultConfig.apiGatewayLogsRole),
    ...(webhook ? { webhook } : {}),
    messageRetentionDays: retentionDays(get(retention.contextKey)),
    archive: asBoolean(archive.contextKey, get(archive.contextKey), defaultConfig.archive),
    catchupReservedConcurrency: positiveInteger('catchupReservedConcurrency', get('catchupReservedConcurrency')),
  };
}

function webhookFromContext(get: (key: string) => unknown): WebhookSettings | undefined {
  const url = asString(get('webhookUrl'));
  const secretName = asString(get('webhookSecretName'));
  if (url === undefined) {
    if (secretName !== undefined) throw new Error('webhookSecretName is set but webhookUrl is not');
    return undefined;
  }
  // API destinations call HTTPS endpoints only.
  if (!/^https:\/\/[^\s/]+/.test(url)) throw new Error(`context webhookUrl must be an https:// URL, got "${url}"`);
  if (secretName === undefined) throw new Error('webhookUrl needs webhookSecretName (a Secrets Manager secret holding the API key)');
  return { url, secretName, apiKeyHeader: asString(get('webhookApiKeyHeader')) ?? 'x-api-key' };
}
