import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { commonEnv } from '../../lib/definitions.js';
import { instrumented } from '../app/instrument.js';
import { config, users } from '../app/authorizer-runtime.js';
import { authenticate, extractToken, UnauthorizedError, userIdPattern } from '../domain/auth.js';
import { refuseBanned } from '../domain/bans.js';
import { logger } from '../shared/logger.js';

const userIdClaim = process.env[commonEnv.userIdClaim] ?? 'sub';
// The key set is fetched once and cached across invocations of this container; unknown key ids trigger a refetch.
const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;

const verify = async (token: string) => {
  if (!jwks) throw new Error('JWKS_URL is not configured');
  const { payload } = await jwtVerify(token, jwks, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    algorithms: ['RS256', 'ES256'],
    // jose checks exp only when present: a token without one would never expire. The lifetime needs iat.
    requiredClaims: ['exp', 'iat'],
    // The same tolerance `checkTokenTimes` applies, so both agree on what is expired.
    clockTolerance: config.limits.clockSkewSeconds,
  });
  return payload as Record<string, unknown>;
};

/** $connect REQUEST authorizer: allows the connection and pins its user id and token expiry, or answers 401 (also to banned users). */
export const handler = instrumented(
  'authorizer',
  async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    try {
      const { userId, tokenExpiresAt } = await authenticate(
        extractToken(event.queryStringParameters, event.headers),
        verify,
        userIdClaim,
        (value) => userIdPattern.test(value),
        { ...config.limits, nowSeconds: Math.floor(Date.now() / 1000) },
      );
      await refuseBanned(users, userId);
      return {
        principalId: userId,
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
        },
        // API Gateway hands this context to every route of the connection: the actions check the expiry on each request.
        context: { userId, tokenExpiresAt },
      };
    } catch (error) {
      if (error instanceof UnauthorizedError) {
        logger.info('connection refused', { reason: error.message });
      } else {
        logger.error('authorizer failed', { error: error as Error });
      }
      // The exact message makes API Gateway answer 401 instead of 500.
      throw new Error('Unauthorized');
    }
  },
  (event) => ({ connectionId: event.requestContext?.connectionId, action: event.requestContext?.routeKey }),
);
