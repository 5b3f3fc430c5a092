/**
 * `npm run smoke -- --outputs cdk-outputs.json`: a short black-box check of a deployed Parley stack (or the local
 * stack). It reads the stack's CDK outputs, gets two test users (Cognito users it creates and deletes, tokens you
 * pass, or local dev tokens), connects real WebSockets and checks 1:1 and group delivery with acks in seq order,
 * catch-up through `sync` after a reconnect, and what happens after a socket dies without a close handshake.
 * Prints one row per check and exits non-zero when any check failed. Every wait is bounded.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApiGatewayManagementApiClient, GetConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import {
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import WebSocket from 'ws';
import { MemoryCursorStore, ParleyClient, type Message, type ParleyClientOptions } from '../client/index.js';

type Env = Record<string, string | undefined>;

/** How one smoke run is configured (from the command line and the environment). */
export interface SmokeOptions {
  /** Path of the `cdk deploy --outputs-file` JSON. */
  outputs: string;
  /** Which stack of the outputs file; needed only when it holds several Parley stacks. */
  stack?: string;
  /** Tokens of two distinct users (OIDC deployments); both or neither. */
  tokenA?: string;
  tokenB?: string;
  /** Base URL of the local stack's dev identity provider (`/dev/token?user=`). */
  localDevTokens?: string;
  /** The token claim the stack uses as user id (`-c userIdClaim`, default `sub`). */
  userIdClaim: string;
  /** AWS region for Cognito and the management API, when it cannot be read from the outputs. */
  region?: string;
  /** Print the results as JSON instead of a table. */
  json: boolean;
  /** Upper bound of each single wait (a reply, a push, a connect), in ms. */
  waitMs: number;
  help: boolean;
}

/** The outputs of one Parley stack the smoke test uses (keys as `lib/parley-stack.ts` defines them). */
export interface StackOutputs {
  stackName: string;
  webSocketUrl: string;
  callbackUrl?: string;
  userPoolId?: string;
  userPoolClientId?: string;
  presenceTableName?: string;
}

/** One row of the report. */
export interface CheckResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  ms: number;
  detail: string;
}

export const usage = `Usage: npm run smoke -- --outputs cdk-outputs.json [--stack NAME]
         [--token-a JWT --token-b JWT | --local-dev-tokens http://127.0.0.1:3000]
         [--user-id-claim sub] [--region REGION] [--wait-ms 10000] [--json]

Without tokens it creates two users in the stack's Cognito user pool (and deletes them afterwards), using the
standard AWS credential chain. Tokens may also come from PARLEY_SMOKE_TOKEN_A / PARLEY_SMOKE_TOKEN_B.`;

// ---------------------------------------------------------------- arguments and outputs

/** Parses the command line; tokens fall back to `PARLEY_SMOKE_TOKEN_A/B`. */
export function parseArgs(argv: readonly string[], env: Env = process.env): SmokeOptions {
  const booleans = ['json', 'help'];
  const known = ['outputs', 'stack', 'token-a', 'token-b', 'local-dev-tokens', 'user-id-claim', 'region', 'wait-ms', ...booleans];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!known.includes(name)) throw new Error(`unknown option --${name}`);
    if (booleans.includes(name)) flags.set(name, true);
    else if (inline !== undefined) flags.set(name, inline);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags.set(name, argv[++i]!);
    else throw new Error(`--${name} needs a value`);
  }
  const text = (name: string) => (typeof flags.get(name) === 'string' ? (flags.get(name) as string) : undefined);
  const waitMs = Number(text('wait-ms') ?? 10_000);
  if (!Number.isInteger(waitMs) || waitMs <= 0) throw new Error('--wait-ms must be a positive integer');
  const options: SmokeOptions = {
    outputs: text('outputs') ?? '',
    stack: text('stack'),
    tokenA: text('token-a') ?? (env.PARLEY_SMOKE_TOKEN_A || undefined),
    tokenB: text('token-b') ?? (env.PARLEY_SMOKE_TOKEN_B || undefined),
    localDevTokens: text('local-dev-tokens'),
    userIdClaim: text('user-id-claim') ?? 'sub',
    region: text('region'),
    json: flags.has('json'),
    waitMs,
    help: flags.has('help'),
  };
  if (options.help) return options;
  if (!options.outputs) throw new Error('--outputs <cdk outputs file> is required (cdk deploy --outputs-file cdk-outputs.json)');
  if (Boolean(options.tokenA) !== Boolean(options.tokenB)) throw new Error('pass both --token-a and --token-b (two distinct users), or neither');
  if (options.tokenA && options.localDevTokens) throw new Error('--local-dev-tokens and --token-a/--token-b exclude each other');
  return options;
}

/**
 * Picks the Parley stack out of a CDK outputs file (`{"<StackName>": {"WebSocketUrl": ..., ...}}`): the one named
 * by `stack`, or the only one with a `WebSocketUrl`. Throws with a message naming what is missing.
 */
export function readOutputs(outputs: unknown, file: string, stack?: string): StackOutputs {
  if (!outputs || typeof outputs !== 'object' || Array.isArray(outputs)) throw new Error(`${file} is not a CDK outputs file (expected {"<StackName>": {...}})`);
  const stacks = Object.entries(outputs as Record<string, Record<string, unknown>>);
  let name = stack;
  if (name === undefined) {
    const parley = stacks.filter(([, values]) => values && typeof values === 'object' && 'WebSocketUrl' in values).map(([key]) => key);
    if (parley.length === 0) throw new Error(`no stack in ${file} has a WebSocketUrl output (stacks: ${stacks.map(([key]) => key).join(', ') || 'none'})`);
    if (parley.length > 1) throw new Error(`${file} holds several Parley stacks (${parley.join(', ')}): pass --stack NAME`);
    name = parley[0]!;
  }
  const values = (outputs as Record<string, Record<string, unknown> | undefined>)[name];
  if (!values) throw new Error(`stack ${name} is not in ${file} (stacks: ${stacks.map(([key]) => key).join(', ')})`);
  const text = (key: string) => (typeof values[key] === 'string' && values[key] ? (values[key] as string) : undefined);
  const webSocketUrl = text('WebSocketUrl');
  if (!webSocketUrl) throw new Error(`stack ${name} in ${file} has no WebSocketUrl output`);
  return {
    stackName: name,
    webSocketUrl,
    callbackUrl: text('CallbackUrl'),
    userPoolId: text('UserPoolId'),
    userPoolClientId: text('UserPoolClientId'),
    presenceTableName: text('PresenceTableName'),
  };
}

// ---------------------------------------------------------------- small helpers

/** Rejects with `what timed out` unless `promise` settles within `ms`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Polls `probe` until it returns a value, at most `ms`. */
async function eventually<T>(ms: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(250);
  }
}

/** The claims of a JWT (unverified: the server verifies; this only learns whose token it is). */
function claimsOf(token: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new Error('a token is not a JWT');
  }
}

function userIdOf(token: string, claim: string): string {
  const value = claimsOf(token)[claim];
  if (typeof value !== 'string' || !value) throw new Error(`a token has no "${claim}" claim (set --user-id-claim to the stack's userIdClaim)`);
  return value;
}

/** `eu-west-1` from `eu-west-1_AbC` (pool ids) or `https://x.execute-api.eu-west-1.amazonaws.com/prod`. */
const regionOf = (value?: string) => value?.match(/^([a-z]{2}(?:-[a-z]+)+-\d)_/)?.[1] ?? value?.match(/\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/)?.[1];

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

// ---------------------------------------------------------------- test users

/** A user the checks act as. */
interface SmokeUser {
  userId: string;
  token: string;
}

/** Two users and how to get rid of them. */
interface Identities {
  a: SmokeUser;
  b: SmokeUser;
  source: string;
  /** Deletes what was created; returns what it did. */
  cleanup(): Promise<string>;
}

async function devTokenUsers(httpUrl: string, runId: string, waitMs: number): Promise<Identities> {
  const fetchToken = async (userId: string): Promise<SmokeUser> => {
    const url = `${httpUrl.replace(/\/$/, '')}/dev/token?user=${encodeURIComponent(userId)}`;
    const response = await fetch(url, { signal: AbortSignal.timeout(waitMs) }).catch((error: unknown) => {
      throw new Error(`GET ${url} failed: ${errorText(error)} (is the local stack running?)`);
    });
    if (!response.ok) throw new Error(`GET ${url} failed: HTTP ${response.status} ${await response.text()}`);
    return { userId, token: ((await response.json()) as { token: string }).token };
  };
  const [a, b] = await Promise.all([fetchToken(`smoke-${runId}-a`), fetchToken(`smoke-${runId}-b`)]);
  return { a: a!, b: b!, source: 'local dev tokens', cleanup: async () => 'nothing to delete' };
}

function givenTokenUsers(tokenA: string, tokenB: string, claim: string): Identities {
  const a = { userId: userIdOf(tokenA, claim), token: tokenA };
  const b = { userId: userIdOf(tokenB, claim), token: tokenB };
  if (a.userId === b.userId) throw new Error(`--token-a and --token-b belong to the same user (${a.userId}); pass tokens of two users`);
  return { a, b, source: 'given tokens', cleanup: async () => 'nothing to delete' };
}

/**
 * Creates two users in the stack's pool and signs them in with USER_PASSWORD_AUTH, the password flow the app
 * client enables (`lib/identity.ts`: SRP and password; ADMIN_USER_PASSWORD_AUTH is not enabled). Clients connect
 * with the ID token, which carries the client id as `aud`.
 */
async function cognitoUsers(outputs: StackOutputs, options: SmokeOptions, runId: string): Promise<Identities> {
  const { userPoolId, userPoolClientId } = outputs;
  if (!userPoolId || !userPoolClientId) {
    throw new Error(
      `stack ${outputs.stackName} has no UserPoolId/UserPoolClientId outputs (an OIDC deployment?): pass --token-a and --token-b ` +
        '(or PARLEY_SMOKE_TOKEN_A/B) with tokens of two users of your identity provider',
    );
  }
  const cognito = new CognitoIdentityProviderClient({ region: options.region ?? regionOf(userPoolId) });
  const created: string[] = [];
  const createOne = async (username: string): Promise<SmokeUser> => {
    // Meets the pool's policy: 12+ characters with lower and upper case, digits and symbols.
    const password = `${randomBytes(16).toString('base64url')}aA1!`;
    await cognito.send(new AdminCreateUserCommand({ UserPoolId: userPoolId, Username: username, MessageAction: 'SUPPRESS' }));
    created.push(username);
    await cognito.send(new AdminSetUserPasswordCommand({ UserPoolId: userPoolId, Username: username, Password: password, Permanent: true }));
    const auth = await cognito.send(
      new InitiateAuthCommand({ ClientId: userPoolClientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD: password } }),
    );
    const token = auth.AuthenticationResult?.IdToken;
    if (!token) throw new Error(`Cognito sign-in of ${username} returned no ID token (challenge ${auth.ChallengeName ?? 'none'}; MFA required?)`);
    return { userId: userIdOf(token, options.userIdClaim), token };
  };
  const cleanup = async () => {
    const failures: string[] = [];
    for (const username of created) {
      await cognito.send(new AdminDeleteUserCommand({ UserPoolId: userPoolId, Username: username })).catch((error: unknown) => {
        failures.push(`${username}: ${errorText(error)}`);
      });
    }
    cognito.destroy();
    if (failures.length) throw new Error(`could not delete Cognito users: ${failures.join('; ')}`);
    return `deleted Cognito users ${created.join(', ') || '(none created)'}`;
  };
  try {
    const a = await within(options.waitMs, 'creating Cognito user a', createOne(`parley-smoke-${runId}-a`));
    const b = await within(options.waitMs, 'creating Cognito user b', createOne(`parley-smoke-${runId}-b`));
    return { a, b, source: `Cognito pool ${userPoolId}`, cleanup };
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw new Error(`creating Cognito test users failed: ${errorText(error)} (needs cognito-idp:AdminCreateUser, AdminSetUserPassword, AdminDeleteUser)`);
  }
}

function identitiesFor(outputs: StackOutputs, options: SmokeOptions, runId: string): Promise<Identities> {
  if (options.localDevTokens) return devTokenUsers(options.localDevTokens, runId, options.waitMs);
  if (options.tokenA && options.tokenB) return Promise.resolve(givenTokenUsers(options.tokenA, options.tokenB, options.userIdClaim));
  return cognitoUsers(outputs, options, runId);
}

// ---------------------------------------------------------------- a raw socket

type Frame = Record<string, any>;

/** A raw WebSocket that records frames; every wait is bounded and fails at once when the socket closes. */
class SmokeSocket {
  readonly frames: Frame[] = [];
  private readonly listeners = new Set<() => void>();
  private closedWith?: string;

  private constructor(
    readonly user: SmokeUser,
    readonly socket: WebSocket,
    private readonly waitMs: number,
  ) {
    socket.on('message', (data) => {
      try {
        this.frames.push(JSON.parse(String(data)) as Frame);
      } catch {
        this.frames.push({ type: '<non-json>', raw: String(data) });
      }
      this.notify();
    });
    socket.on('close', (code) => {
      this.closedWith = `socket closed (${code})`;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  /** Connects as `user`; a refused handshake names the HTTP status. */
  static async open(url: string, user: SmokeUser, waitMs: number): Promise<SmokeSocket> {
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(user.token)}`, { handshakeTimeout: waitMs });
    const opened = new Promise<void>((done, fail) => {
      socket.once('open', () => done());
      socket.once('unexpected-response', (_request, response) =>
        fail(new Error(`connect refused: HTTP ${response.statusCode}${response.statusCode === 401 ? ' (token rejected: issuer, audience or expiry?)' : ''}`)),
      );
      socket.once('error', fail);
    });
    try {
      await within(waitMs, `connecting ${user.userId}`, opened);
    } catch (error) {
      socket.terminate();
      throw error;
    }
    return new SmokeSocket(user, socket, waitMs);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** The first frame (received or future) that matches. */
  waitFor(what: string, match: (frame: Frame) => boolean): Promise<Frame> {
    return within(
      this.waitMs,
      `${this.user.userId} waiting for ${what}`,
      new Promise<Frame>((done, fail) => {
        const check = () => {
          const frame = this.frames.find(match);
          if (frame || this.closedWith) this.listeners.delete(check);
          if (frame) done(frame);
          else if (this.closedWith) fail(new Error(`${this.user.userId} waiting for ${what}: ${this.closedWith}`));
        };
        this.listeners.add(check);
        check();
      }),
    );
  }

  /** Sends a request and resolves with its reply; an error reply rejects with its code and message. */
  async request(frame: Frame): Promise<Frame> {
    const requestId = randomUUID();
    this.socket.send(JSON.stringify({ ...frame, requestId }));
    const reply = await this.waitFor(`the reply to ${String(frame.action)}`, (candidate) => candidate.requestId === requestId);
    if (reply.type === 'error') throw new Error(`${String(frame.action)} refused: ${String(reply.code)}: ${String(reply.message)}`);
    return reply;
  }

  /** Sends a message and resolves with its ack. */
  async send(conversationId: string, body: string): Promise<Frame> {
    const ack = await this.request({ action: 'send', conversationId, clientMessageId: randomUUID(), body });
    if (ack.type !== 'ack' || typeof ack.seq !== 'number') throw new Error(`send: expected an ack, got ${JSON.stringify(ack)}`);
    return ack;
  }

  /** Waits for the pushed message with `seq` in `conversationId`. */
  message(conversationId: string, seq: number): Promise<Frame> {
    return this.waitFor(`message #${seq}`, (f) => f.type === 'message' && f.message?.conversationId === conversationId && f.message?.seq === seq);
  }

  /** Drops the TCP connection without a close handshake, as a phone losing its network does. */
  terminate(): void {
    this.socket.terminate();
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    else this.socket.terminate();
  }
}

// ---------------------------------------------------------------- checks

/** What every check gets: the stack, the users, and a place to register what must be closed. */
interface CheckContext {
  outputs: StackOutputs;
  options: SmokeOptions;
  a: SmokeUser;
  b: SmokeUser;
  /** A member who never connects, so groups have three members. */
  thirdId: string;
  runId: string;
  /** Registers a socket or SDK client to close when the check ends (also on a timeout). */
  track<T extends { close(): void }>(resource: T): T;
  /** Set by the dropped-socket check for the 410 check. */
  dropped?: { connectionId?: string; lookup: string; userId: string };
}

/** A check's outcome: what it saw, or why it did not apply. */
type Outcome = { detail: string } | { skipped: string };

type Check = { name: string; run: (context: CheckContext) => Promise<Outcome> };

const open = (context: CheckContext, user: SmokeUser) =>
  SmokeSocket.open(context.outputs.webSocketUrl, user, context.options.waitMs).then((socket) => context.track(socket));

/** Fails unless `seqs` are consecutive and ascending (the order acks came back in). */
function expectConsecutive(seqs: number[], what: string): void {
  if (seqs.some((seq, i) => i > 0 && seq !== seqs[i - 1]! + 1)) throw new Error(`${what}: seqs ${seqs.join(', ')} are not consecutive`);
}

async function checkDirect(context: CheckContext): Promise<Outcome> {
  const [a, b] = await Promise.all([open(context, context.a), open(context, context.b)]);
  const created = await a.request({ action: 'createConversation', kind: 'direct', userId: context.b.userId });
  const conversationId = created.conversation.conversationId as string;
  const bodies = [1, 2, 3].map((n) => `smoke ${context.runId} direct ${n}`);
  const acks: Frame[] = [];
  for (const body of bodies) acks.push(await a.send(conversationId, body));
  const seqs = acks.map((ack) => ack.seq as number);
  expectConsecutive(seqs, 'acks to a');
  const received = await Promise.all(seqs.map((seq) => b.message(conversationId, seq)));
  received.forEach((frame, i) => {
    if (frame.message.body !== bodies[i] || frame.message.senderId !== context.a.userId)
      throw new Error(`b got #${seqs[i]} as ${JSON.stringify(frame.message)}`);
  });
  const reply = await b.send(conversationId, `smoke ${context.runId} direct reply`);
  if (reply.seq !== seqs.at(-1)! + 1) throw new Error(`b's reply got seq ${reply.seq}, expected ${seqs.at(-1)! + 1}`);
  await a.message(conversationId, reply.seq as number);
  return { detail: `seq ${seqs[0]}–${reply.seq} acked in order, each pushed to the other user` };
}

async function checkGroup(context: CheckContext): Promise<Outcome> {
  const [a, b] = await Promise.all([open(context, context.a), open(context, context.b)]);
  const created = await a.request({
    action: 'createConversation',
    kind: 'group',
    title: `smoke ${context.runId}`,
    members: [context.b.userId, context.thirdId],
  });
  const conversation = created.conversation as { conversationId: string; members: string[] };
  if (conversation.members.length !== 3) throw new Error(`the group has members ${conversation.members.join(', ')}, expected 3`);
  await b.waitFor('the conversation push', (f) => f.type === 'conversation' && f.conversation?.conversationId === conversation.conversationId);
  const acks = [
    await a.send(conversation.conversationId, `smoke ${context.runId} group 1`),
    await b.send(conversation.conversationId, `smoke ${context.runId} group 2`),
    await a.send(conversation.conversationId, `smoke ${context.runId} group 3`),
  ];
  const seqs = acks.map((ack) => ack.seq as number);
  expectConsecutive(seqs, 'group acks');
  if (seqs[0] !== 1) throw new Error(`a new group's first message got seq ${seqs[0]}, expected 1`);
  await Promise.all([
    b.message(conversation.conversationId, seqs[0]!),
    a.message(conversation.conversationId, seqs[1]!),
    b.message(conversation.conversationId, seqs[2]!),
  ]);
  return { detail: `3 members (one never connected), seq 1–3 acked in order from two senders, pushed to the other` };
}

/** The SDK client as an app would run it, with cursors in `store`. */
function sdkClient(context: CheckContext, user: SmokeUser, store: MemoryCursorStore): ParleyClient {
  const client = new ParleyClient({
    url: context.outputs.webSocketUrl,
    token: () => ({ token: user.token, userId: user.userId }),
    userId: user.userId,
    WebSocket: WebSocket as unknown as ParleyClientOptions['WebSocket'],
    cursorStore: store,
    requestTimeoutMs: context.options.waitMs,
    connectTimeoutMs: context.options.waitMs,
  });
  return context.track(client);
}

async function checkCatchUp(context: CheckContext): Promise<Outcome> {
  const a = await open(context, context.a);
  const created = await a.request({ action: 'createConversation', kind: 'group', title: `smoke ${context.runId} catch-up`, members: [context.b.userId] });
  const conversationId = created.conversation.conversationId as string;
  const store = new MemoryCursorStore();

  // First session: b receives a message live, so its cursor is past it.
  const first = sdkClient(context, context.b, store);
  const live: Message[] = [];
  first.on('message', (message) => message.conversationId === conversationId && live.push(message));
  await within(context.options.waitMs, 'b connecting with the SDK', first.connect());
  const ack1 = await a.send(conversationId, `smoke ${context.runId} before`);
  await eventually(context.options.waitMs, 'b receiving the first message live', async () => (live.some((m) => m.seq === ack1.seq) ? true : undefined));
  first.close();

  // While b is offline nothing can be pushed to it: the message can only come back through sync.
  const ack2 = await a.send(conversationId, `smoke ${context.runId} while offline`);
  const second = sdkClient(context, context.b, store);
  const caughtUp: Message[] = [];
  second.on('message', (message) => message.conversationId === conversationId && caughtUp.push(message));
  await within(context.options.waitMs, 'b reconnecting and syncing', second.connect());
  const seqs = caughtUp.map((m) => m.seq);
  if (seqs.length !== 1 || seqs[0] !== ack2.seq) throw new Error(`after the reconnect b got seqs [${seqs.join(', ')}], expected exactly [${ack2.seq}]`);
  return { detail: `#${ack2.seq} sent while b was offline came through sync on reconnect; #${ack1.seq} not repeated` };
}

/** The connection ids the presence table holds for `userId` (`connections` maps id -> expiry). */
async function connectionIdsOf(context: CheckContext, ddb: DynamoDBClient, userId: string): Promise<string[]> {
  const { Item } = await ddb.send(new GetItemCommand({ TableName: context.outputs.presenceTableName, Key: { userId: { S: userId } }, ConsistentRead: true }));
  return Object.keys(Item?.connections?.M ?? {});
}

const awsRegion = (context: CheckContext) =>
  context.options.region ??
  process.env.AWS_REGION ??
  process.env.AWS_DEFAULT_REGION ??
  regionOf(context.outputs.callbackUrl) ??
  regionOf(context.outputs.userPoolId);

/**
 * Opens a second device of b, finds its connection id in the presence table when the credentials allow it (only
 * the server knows connection ids), and kills it without a close handshake. a's sends must still be acked and b's
 * live device must still get them: a dead connection may cost a 410, never a failed send or a lost push.
 */
async function checkDroppedSocket(context: CheckContext): Promise<Outcome> {
  const [a, live] = await Promise.all([open(context, context.a), open(context, context.b)]);
  const created = await a.request({ action: 'createConversation', kind: 'group', title: `smoke ${context.runId} drop`, members: [context.b.userId] });
  const conversationId = created.conversation.conversationId as string;
  const ddb = new DynamoDBClient({ region: awsRegion(context) });
  try {
    const lookup = context.outputs.presenceTableName
      ? await connectionIdsOf(context, ddb, context.b.userId).catch((error: unknown) => error as Error)
      : undefined;
    const doomed = await open(context, context.b);
    let connectionId: string | undefined;
    let note = 'no PresenceTableName output';
    if (lookup instanceof Error) note = `presence table not readable: ${lookup.message}`;
    else if (lookup) {
      const after = await connectionIdsOf(context, ddb, context.b.userId);
      connectionId = after.find((id) => !lookup.includes(id));
      note = connectionId ? `connection ${connectionId}` : 'the new connection did not show up in the presence table';
    }
    context.dropped = { connectionId, lookup: note, userId: context.b.userId };
    doomed.terminate();

    const acks = [await a.send(conversationId, `smoke ${context.runId} after drop 1`), await a.send(conversationId, `smoke ${context.runId} after drop 2`)];
    const seqs = acks.map((ack) => ack.seq as number);
    expectConsecutive(seqs, 'acks after the drop');
    await Promise.all(seqs.map((seq) => live.message(conversationId, seq)));
    return { detail: `after b's second socket died: seq ${seqs.join(', ')} acked and pushed to b's live socket` };
  } finally {
    ddb.destroy();
  }
}

/** Needs IAM: the dropped connection's `@connections` GET answers 410 and the presence table forgot it. */
async function checkGone(context: CheckContext): Promise<Outcome> {
  const dropped = context.dropped;
  if (!dropped) return { skipped: 'the dropped-socket check did not get that far' };
  if (!dropped.connectionId) return { skipped: `connection id unknown (${dropped.lookup}); needs dynamodb:GetItem on the presence table` };
  if (!context.outputs.callbackUrl) return { skipped: 'no CallbackUrl output' };
  const connectionId = dropped.connectionId;
  const management = new ApiGatewayManagementApiClient({ endpoint: context.outputs.callbackUrl, region: awsRegion(context) });
  const ddb = new DynamoDBClient({ region: awsRegion(context) });
  try {
    const status = () =>
      management.send(new GetConnectionCommand({ ConnectionId: connectionId })).then(
        () => 200,
        (error: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
          if (error.name === 'GoneException' || error.$metadata?.httpStatusCode === 410) return 410;
          throw error;
        },
      );
    try {
      await eventually(context.options.waitMs, `@connections GET ${connectionId} answering 410`, async () => ((await status()) === 410 ? true : undefined));
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      if (/AccessDenied|Forbidden|CredentialsProvider/i.test(name))
        return { skipped: `@connections GET not permitted (${name}); needs execute-api:ManageConnections` };
      throw error;
    }
    await eventually(context.options.waitMs, 'the presence table forgetting the dropped connection', async () =>
      (await connectionIdsOf(context, ddb, dropped.userId)).includes(connectionId) ? undefined : true,
    );
    return { detail: `@connections GET ${connectionId}: 410; the presence table no longer lists it` };
  } finally {
    management.destroy();
    ddb.destroy();
  }
}

/** The checks in the order they run; each opens and closes its own sockets. */
export const checks: readonly Check[] = [
  { name: '1:1 delivery with acks in seq order', run: checkDirect },
  { name: 'group of 3 with acks in seq order', run: checkGroup },
  { name: 'reconnect catch-up through sync (SDK)', run: checkCatchUp },
  { name: 'dropped socket: sends acked, live device served', run: checkDroppedSocket },
  { name: 'dropped socket: @connections 410, forgotten', run: checkGone },
];

// ---------------------------------------------------------------- running and reporting

async function timed(name: string, run: () => Promise<Outcome>): Promise<CheckResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const outcome = await run();
    return 'skipped' in outcome ? { name, status: 'skip', ms: ms(), detail: outcome.skipped } : { name, status: 'pass', ms: ms(), detail: outcome.detail };
  } catch (error) {
    return { name, status: 'fail', ms: ms(), detail: errorText(error) };
  }
}

/** Runs one check with its own resources, closed when it ends; a check is given at most three waits' time. */
async function runCheck(check: Check, base: Omit<CheckContext, 'track'>): Promise<CheckResult> {
  const resources: { close(): void }[] = [];
  const context = base as CheckContext;
  context.track = (resource) => {
    resources.push(resource);
    return resource;
  };
  try {
    return await timed(check.name, () => within(3 * base.options.waitMs, check.name, check.run(context)));
  } finally {
    for (const resource of resources) resource.close();
  }
}

/**
 * Runs the whole smoke test against the stack described by `options` and returns one result per check, plus the
 * setup and cleanup rows. Never throws for a failed check; only for unusable options (a missing outputs key).
 */
export async function runSmoke(options: SmokeOptions): Promise<CheckResult[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(options.outputs, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the outputs file ${options.outputs}: ${errorText(error)}`);
  }
  const outputs = readOutputs(raw, options.outputs, options.stack);
  const runId = randomUUID().slice(0, 8);
  let identities: Identities | undefined;
  const setup = await timed(`test users`, async () => {
    identities = await within(3 * options.waitMs, 'getting test users', identitiesFor(outputs, options, runId));
    return { detail: `${identities.source}: ${identities.a.userId}, ${identities.b.userId} on ${outputs.stackName}` };
  });
  if (!identities) return [setup, ...checks.map((check): CheckResult => ({ name: check.name, status: 'fail', ms: 0, detail: 'not run: no test users' }))];

  const base: Omit<CheckContext, 'track'> = { outputs, options, a: identities.a, b: identities.b, thirdId: `smoke-${runId}-c`, runId };
  const results = [setup];
  for (const check of checks) results.push(await runCheck(check, base));
  const cleanup = identities.cleanup;
  results.push(await timed('cleanup', async () => ({ detail: `sockets closed; ${await within(3 * options.waitMs, 'cleanup', cleanup())}` })));
  return results;
}

/** The results as a fixed-width table with a summary line. */
export function formatTable(results: readonly CheckResult[]): string {
  const label = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;
  const width = Math.max(...results.map((result) => result.name.length));
  const rows = results.map((r) => `${label[r.status]}  ${r.name.padEnd(width)}  ${`${r.ms} ms`.padStart(8)}  ${r.detail}`);
  const failed = results.filter((r) => r.status === 'fail').length;
  const total = results.reduce((sum, r) => sum + r.ms, 0);
  return [...rows, '', failed ? `${failed} check(s) failed (${total} ms)` : `all checks passed (${total} ms)`].join('\n');
}

/** The command: parses `argv`, runs, prints, and returns the exit code (0 only when nothing failed). */
export async function main(argv: readonly string[], env: Env = process.env): Promise<number> {
  let options: SmokeOptions;
  try {
    options = parseArgs(argv, env);
  } catch (error) {
    console.error(`smoke: ${errorText(error)}\n${usage}`);
    return 2;
  }
  if (options.help) {
    console.log(usage);
    return 0;
  }
  try {
    const results = await runSmoke(options);
    console.log(options.json ? JSON.stringify({ results }, null, 2) : formatTable(results));
    return results.some((result) => result.status === 'fail') ? 1 : 0;
  } catch (error) {
    console.error(`smoke: ${errorText(error)}`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // Exit explicitly: SDK clients and sockets of a timed-out check must not keep the process alive.
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
