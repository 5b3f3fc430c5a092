import { connectAuthorizer } from '../../lib/definitions.js';

/** User ids as identity providers issue them (Cognito uuids, `auth0|...`, emails). */
export const userIdPattern = /^[\w.@:|+=-]{1,128}$/;

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

/** Resolves the user a token identifies; the only source of identity for the whole connection. */
export async function authenticate(
  token: string | undefined,
  verify: TokenVerifier,
  userIdClaim: string,
  isValidUserId: (value: string) => boolean,
): Promise<string> {
  if (!token) throw new UnauthorizedError('no token');
  let claims: Record<string, unknown>;
  try {
    claims = await verify(token);
  } catch (error) {
    throw new UnauthorizedError(`token rejected: ${(error as Error).message}`);
  }
  const userId = claims[userIdClaim];
  if (typeof userId !== 'string' || !isValidUserId(userId)) throw new UnauthorizedError(`claim ${userIdClaim} is not a valid user id`);
  return userId;
}
