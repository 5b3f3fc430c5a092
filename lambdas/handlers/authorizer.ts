import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { commonEnv } from '../../lib/definitions.js';
import { authenticate, extractToken, UnauthorizedError, userIdPattern } from '../domain/auth.js';
import { loadConfig } from '../shared/config.js';
import { logger } from '../shared/logger.js';

const config = loadConfig();
const userIdClaim = process.env[commonEnv.userIdClaim] ?? 'sub';
// The key set is fetched once and cached across invocations of this container; unknown key ids trigger a refetch.
const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;

const verify = async (token: string) => {
  if (!jwks) throw new Error('JWKS_URL is not configured');
  const { payload } = await jwtVerify(token, jwks, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    algorithms: ['RS256', 'ES256'],
    // jose checks exp only when present: a token without one would never expire.
    requiredClaims: ['exp'],
  });
  return payload as Record<string, unknown>;
};

/** $connect REQUEST authorizer: allows the connection and pins its user id, or answers 401. */
export const handler = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  try {
    const userId = await authenticate(
      extractToken(event.queryStringParameters, event.headers),
      verify,
      userIdClaim,
      (value) => userIdPattern.test(value),
    );
    return {
      principalId: userId,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: { userId },
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
};
