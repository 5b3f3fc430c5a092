import { connectAuthorizer } from '../../lib/definitions.js';

/** User ids as identity providers issue them; defined by the protocol module. */
export { userIdPattern } from '../../protocol/limits.js';

/** Verifies a token and returns its claims; throws when the token is not acceptable. */
export type TokenVerifier = (token: string) => Promise<Record<string, unknown>>;

/** The token was missing or failed verification. */
export class UnauthorizedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnauthorizedError';
  }
}

const headerValue = (headers: Record<string, string | undefined> | null | undefined, name: string) =>
  Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];

/** The offered subprotocols, in order. */
export const offeredProtocols = (headers: Record<string, string | undefined> | null | undefined): string[] =>
  (headerValue(headers, connectAuthorizer.tokenProtocolHeader) ?? '')
    .split(',')
    .map((protocol) => protocol.trim())
    .filter(Boolean);

/** The JWT from `?token=` or, for clients that cannot set a query string, `Sec-WebSocket-Protocol: parley, <jwt>`. */
export function extractToken(
  query: Record<string, string | undefined> | null | undefined,
  headers: Record<string, string | undefined> | null | undefined,
): string | undefined {
  const fromQuery = query?.[connectAuthorizer.tokenQueryParameter];
  if (fromQuery) return fromQuery;
  const protocols = offeredProtocols(headers);
  if (protocols[0] !== connectAuthorizer.subprotocol) return undefined;
  return protocols[1];
}

/** How old and how long-lived a token may be, and how far the issuer's clock may be off ours. */
export interface TokenTimePolicy {
  maxTokenLifetimeSeconds: number;
  clockSkewSeconds: number;
}

/** A connection's identity and when its token stops being honoured. */
export interface Session {
  userId: string;
  /** The token's `exp` (epoch seconds); the session ends `clockSkewSeconds` later. */
  tokenExpiresAt: number;
}

const numericClaim = (claims: Record<string, unknown>, name: string): number | undefined => {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new UnauthorizedError(`claim ${name} is not a number`);
  return value;
};

/**
 * Checks a token's times against `nowSeconds`: `exp` and `iat` are required (the lifetime is `exp - iat`, so a token
 * without `iat` could claim any age), `iat` and `nbf` may be at most the skew in the future, `exp` at most the skew in
 * the past, and neither `exp - iat` nor `exp - now` may exceed the maximum lifetime. Returns `exp`.
 */
export function checkTokenTimes(claims: Record<string, unknown>, nowSeconds: number, policy: TokenTimePolicy): number {
  const exp = numericClaim(claims, 'exp');
  const iat = numericClaim(claims, 'iat');
  const nbf = numericClaim(claims, 'nbf');
  const skew = policy.clockSkewSeconds;
  const max = policy.maxTokenLifetimeSeconds;
  if (exp === undefined) throw new UnauthorizedError('token has no exp');
  if (iat === undefined) throw new UnauthorizedError('token has no iat');
  if (iat > nowSeconds + skew) throw new UnauthorizedError('token issued in the future (iat)');
  if (nbf !== undefined && nbf > nowSeconds + skew) throw new UnauthorizedError('token not valid yet (nbf)');
  if (exp <= nowSeconds - skew) throw new UnauthorizedError('token expired');
  if (exp - iat > max) throw new UnauthorizedError(`token lifetime exceeds ${max} s (exp - iat)`);
  if (exp - nowSeconds > max) throw new UnauthorizedError(`token expires more than ${max} s from now`);
  return exp;
}

/** Resolves the user a token identifies; the only source of identity for the whole connection. */
export async function authenticate(
  token: string | undefined,
  verify: TokenVerifier,
  userIdClaim: string,
  isValidUserId: (value: string) => boolean,
  times: TokenTimePolicy & { nowSeconds: number },
): Promise<Session> {
  if (!token) throw new UnauthorizedError('no token');
  let claims: Record<string, unknown>;
  try {
    claims = await verify(token);
  } catch (error) {
    throw new UnauthorizedError(`token rejected: ${(error as Error).message}`);
  }
  const tokenExpiresAt = checkTokenTimes(claims, times.nowSeconds, times);
  const userId = claims[userIdClaim];
  if (typeof userId !== 'string' || !isValidUserId(userId)) throw new UnauthorizedError(`claim ${userIdClaim} is not a valid user id`);
  return { userId, tokenExpiresAt };
}
