/**
 * The Parley server SDK: a typed client of the server API for the app's backend. It signs every request with SigV4
 * (service `execute-api`) using the AWS SDK's own signer and the standard credential chain (environment, shared
 * config and SSO, container and instance roles), so the backend's IAM role is all it needs.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { ServerErrorBody, ServerResponses } from '../lambdas/app/server-router.js';
import type { ServerRequestInput } from '../lambdas/app/server-schemas.js';
import { serverApi, type ServerOperation } from '../lib/definitions.js';

export type { ServerResponses, ServerRequestInput, ServerOperation };

/** Options of `ParleyServerClient`. */
export interface ParleyServerClientOptions {
  /** The stack's `ServerApiUrl` output (or the local stack's server API URL). */
  url: string;
  /** The region the API is deployed in. */
  region: string;
  /** Credentials or a provider; the standard AWS credential chain when omitted. */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/** An error answer of the server API, with its JSON error code (`bad_request`, `forbidden`, `not_found`, …). */
export class ParleyServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** API Gateway refused the request before Parley saw it (a missing, invalid or expired signature, or no permission). */
export class ParleyAccessDeniedError extends ParleyServerError {
  constructor(
    status: number,
    message: string,
    /** API Gateway's error type, e.g. `InvalidSignatureException`, when it names one. */
    readonly awsErrorType?: string,
  ) {
    super(status, 'access_denied', message);
  }
}

const routeOf = (operation: ServerOperation) => serverApi.routes.find((route) => route.operation === operation)!;

/** A typed, SigV4-signing client of the server API: one method per route. */
export class ParleyServerClient {
  private readonly signer: SignatureV4;
  private readonly base: URL;
  private readonly fetch: typeof fetch;

  constructor(options: ParleyServerClientOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.signer = new SignatureV4({
      credentials: options.credentials ?? defaultProvider(),
      region: options.region,
      service: serverApi.signingService,
      sha256: Hash.bind(null, 'sha256'),
    });
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Calls one operation: path parameters are filled from `input`, the rest is the query (GET, DELETE) or JSON body. */
  async request<O extends ServerOperation>(operation: O, input: ServerRequestInput<O>): Promise<ServerResponses[O]> {
    const route = routeOf(operation);
    const rest: Record<string, unknown> = { ...(input as Record<string, unknown>) };
    const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = rest[name];
      delete rest[name];
      return encodeURIComponent(String(value));
    });
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}${path}`, this.base);
    const hasBody = route.method === 'POST' || route.method === 'PUT';
    const query: Record<string, string> = {};
    if (!hasBody) {
      for (const [key, value] of Object.entries(rest)) if (value !== undefined && value !== null) query[key] = String(value);
    }
    const body = hasBody ? JSON.stringify(rest) : undefined;
    const signed = await this.signer.sign({
      method: route.method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query,
      headers: { host: url.host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body,
    });
    const search = new URLSearchParams(query).toString();
    // fetch sets Host itself, to the same value that was signed.
    const { host: _host, ...headers } = signed.headers;
    const response = await this.fetch(`${url.origin}${url.pathname}${search ? `?${search}` : ''}`, { method: route.method, headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (response.ok) return parsed as ServerResponses[O];
    const error = (parsed ?? {}) as Partial<ServerErrorBody> & { message?: string };
    if (typeof error.code !== 'string') {
      throw new ParleyAccessDeniedError(response.status, error.message ?? response.statusText, response.headers.get('x-amzn-errortype') ?? undefined);
    }
    const { code, message, ...details } = error;
    throw new ParleyServerError(response.status, code, message ?? '', details);
  }

  /** Creates a group; the same `externalId` returns the same conversation (`created: false`). */
  createConversation(input: ServerRequestInput<'createConversation'>) {
    return this.request('createConversation', input);
  }
  /** Adds members to a group. */
  addMembers(input: ServerRequestInput<'addMembers'>) {
    return this.request('addMembers', input);
  }
  /** Removes one member from a group. */
  removeMember(input: ServerRequestInput<'removeMember'>) {
    return this.request('removeMember', input);
  }
  /** Changes a member's role. */
  setRole(input: ServerRequestInput<'setRole'>) {
    return this.request('setRole', input);
  }
  /** Posts a message as a user (`senderId`), a bot (`botId`) or the system (neither). */
  postMessage(input: ServerRequestInput<'postMessage'>) {
    return this.request('postMessage', input);
  }
  /** Reads a conversation's timeline, newest first. */
  history(input: ServerRequestInput<'history'>) {
    return this.request('history', input);
  }
  /** Deletes a message as the system; it stays as a tombstone. */
  redactMessage(input: ServerRequestInput<'redactMessage'>) {
    return this.request('redactMessage', input);
  }
  /** Lists a user's conversations with their unread counts. */
  listUserConversations(input: ServerRequestInput<'listUserConversations'>) {
    return this.request('listUserConversations', input);
  }
  /** Closes every session (device) of a user. */
  disconnectUser(input: ServerRequestInput<'disconnectUser'>) {
    return this.request('disconnectUser', input);
  }
  /** Bans a user deployment-wide: they cannot connect, and their sessions are closed. */
  banUser(input: ServerRequestInput<'banUser'>) {
    return this.request('banUser', input);
  }
  /** Lifts a ban. */
  unbanUser(input: ServerRequestInput<'unbanUser'>) {
    return this.request('unbanUser', input);
  }
  /** Erases every message of a user (GDPR): tombstones in the tables, bodies removed from the archive. Safe to repeat. */
  eraseUser(input: ServerRequestInput<'eraseUser'>) {
    return this.request('eraseUser', input);
  }
  /** Reads a conversation (group or direct): members, roles, title, `externalId`, metadata. */
  getConversation(input: ServerRequestInput<'getConversation'>) {
    return this.request('getConversation', input);
  }
  /** Reads the group created with `externalId`; `not_found` (404) when there is none. */
  getConversationByExternalId(input: ServerRequestInput<'getConversationByExternalId'>) {
    return this.request('getConversationByExternalId', input);
  }
}
