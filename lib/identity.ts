import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccountRecovery, FeaturePlan, Mfa, UserPool, type UserPoolClient } from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import type { OidcSettings } from './config.js';

/** Props of `ParleyIdentity`. */
export interface ParleyIdentityProps {
  /** Your own OpenID Connect provider; without it a Cognito user pool is created. */
  readonly oidc?: OidcSettings;
  /** Destroy the user pool with the stack (dev stacks); otherwise it is retained and deletion-protected. */
  readonly devStack: boolean;
}

/**
 * Where the $connect authorizer gets its keys and what it expects in a token: a new Cognito user pool and app
 * client by default, or an external OIDC provider. Cognito ID tokens carry the app client id as `aud`, so clients
 * connect with their ID token (access tokens have no `aud` claim).
 */
export class ParleyIdentity extends Construct {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUrl: string;
  /** Set when the stack manages its own users. */
  readonly userPool?: UserPool;
  readonly userPoolClient?: UserPoolClient;

  constructor(scope: Construct, id: string, props: ParleyIdentityProps) {
    super(scope, id);
    if (props.oidc) {
      this.issuer = props.oidc.issuer;
      this.audience = props.oidc.audience;
      this.jwksUrl = props.oidc.jwksUrl;
      return;
    }

    const userPool = new UserPool(this, 'UserPool', {
      // Users are created by an administrator (see docs/DEPLOY.md); turn on self sign-up for open registration.
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: FeaturePlan.ESSENTIALS,
      deletionProtection: !props.devStack,
      removalPolicy: props.devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    Validations.of(userPool).acknowledge({
      id: 'AwsSolutions-COG2',
      reason: 'TOTP MFA is offered to every user (optional); requiring it is a product decision left to the operator.',
    });
    Validations.of(userPool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason: 'Threat protection needs the Plus feature plan, billed per monthly active user; the Essentials plan is the default.',
    });

    const client = userPool.addClient('AppClient', {
      // Public clients (browsers, mobile apps) cannot keep a secret.
      generateSecret: false,
      authFlows: { userSrp: true, userPassword: true },
      disableOAuth: true,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });

    this.userPool = userPool;
    this.userPoolClient = client;
    // ProviderURL is `cognito-idp.<region>.amazonaws.com/<poolId>`, the issuer of the pool's tokens.
    this.issuer = `https://${userPool.userPoolProviderUrl}`;
    this.audience = client.userPoolClientId;
    this.jwksUrl = `${this.issuer}/.well-known/jwks.json`;
  }
}
