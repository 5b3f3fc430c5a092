import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** Issuer and audience of the local dev tokens; the local authorizer is configured with the same values. */
export const devIssuer = 'parley-local';
export const devAudience = 'parley';

/** Signs dev tokens with a fresh ES256 key and publishes the matching JWKS. */
export interface DevAuth {
  jwks: { keys: JWK[] };
  /** A token for `userId`, valid for `expiresInSeconds` (default 12 h). */
  issueToken(userId: string, options?: { expiresInSeconds?: number }): Promise<string>;
}

/** Creates the local identity provider that stands in for Cognito or your OIDC provider. */
export async function createDevAuth(): Promise<DevAuth> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = `dev-${Date.now().toString(36)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    issueToken: (userId, options = {}) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid })
        .setSubject(userId)
        .setIssuer(devIssuer)
        .setAudience(devAudience)
        .setIssuedAt()
        .setExpirationTime(`${options.expiresInSeconds ?? 12 * 3600}s`)
        .sign(privateKey),
  };
}
