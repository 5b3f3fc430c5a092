/**
 * `npm run test:localstack`: deploys the stack to LocalStack with cdklocal and runs a smoke test against it
 * (two users connect with Cognito ID tokens, one sends, the other receives the push). Without a reachable
 * LocalStack it says so and exits 0. Needs LocalStack Pro (API Gateway WebSocket APIs and Cognito are Pro features).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://localhost:4566';
const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
const outputsFile = 'cdk.out/localstack-outputs.json';

async function reachable(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Calls a Cognito API directly; LocalStack does not check request signatures, so no SDK client is needed. */
async function cognito<T>(operation: string, body: Record<string, unknown>): Promise<T> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `AWSCognitoIdentityProviderService.${operation}`,
      // Only the region in the credential scope matters to LocalStack.
      Authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${region}/cognito-idp/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${operation} failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function idToken(userPoolId: string, clientId: string, username: string): Promise<string> {
  const password = 'Smoke-test-password-1!';
  await cognito('AdminCreateUser', { UserPoolId: userPoolId, Username: username, MessageAction: 'SUPPRESS' }).catch((error: Error) => {
    if (!error.message.includes('UsernameExists')) throw error;
  });
  await cognito('AdminSetUserPassword', { UserPoolId: userPoolId, Username: username, Password: password, Permanent: true });
  const result = await cognito<{ AuthenticationResult: { IdToken: string } }>('InitiateAuth', {
    ClientId: clientId,
    AuthFlow: 'USER_PASSWORD_AUTH',
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  return result.AuthenticationResult.IdToken;
}

const subjectOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub: string }).sub;

/** A connected client that collects every frame it receives. */
async function connect(url: string, token: string) {
  const socket = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
  const frames: Record<string, unknown>[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const waitFor = async (match: (frame: Record<string, unknown>) => boolean, what: string) => {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      const frame = frames.find(match);
      if (frame) return frame;
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const request = (frame: Record<string, unknown>) => {
    socket.send(JSON.stringify(frame));
    return waitFor((reply) => reply.requestId === frame.requestId, `the reply to ${String(frame.action)}`);
  };
  return { socket, waitFor, request };
}

async function smokeTest(outputs: Record<string, string>): Promise<void> {
  const { WebSocketUrl, UserPoolId, UserPoolClientId } = outputs;
  if (!WebSocketUrl || !UserPoolId || !UserPoolClientId) throw new Error(`missing outputs in ${outputsFile}`);
  const [aliceToken, bobToken] = await Promise.all(['smoke-alice', 'smoke-bob'].map((user) => idToken(UserPoolId, UserPoolClientId, user)));
  const alice = await connect(WebSocketUrl, aliceToken!);
  const bob = await connect(WebSocketUrl, bobToken!);
  try {
    const created = await alice.request({ action: 'createConversation', requestId: 'c1', kind: 'direct', userId: subjectOf(bobToken!) });
    const conversationId = (created.conversation as { conversationId: string } | undefined)?.conversationId;
    if (!conversationId) throw new Error(`createConversation failed: ${JSON.stringify(created)}`);
    const ack = await alice.request({ action: 'send', requestId: 's1', conversationId, clientMessageId: `smoke-${Date.now()}`, body: 'hello from LocalStack' });
    if (ack.type !== 'ack') throw new Error(`send failed: ${JSON.stringify(ack)}`);
    await bob.waitFor((frame) => frame.type === 'message' && (frame.message as { seq?: number }).seq === ack.seq, 'the pushed message');
    console.log(`smoke test passed: seq ${String(ack.seq)} stored, acknowledged and pushed`);
  } finally {
    alice.socket.close();
    bob.socket.close();
  }
}

const health = new URL('/_localstack/health', endpoint).toString();
if (!(await reachable(health))) {
  console.log(`LocalStack not found at ${health}: skipping the LocalStack suite (start LocalStack and re-run)`);
  process.exit(0);
}
const deploy = spawnSync('npm', ['run', 'deploy:local'], { stdio: 'inherit', env: { ...process.env, AWS_ENDPOINT_URL: endpoint } });
if (deploy.status !== 0) process.exit(deploy.status ?? 1);
const outputs = (JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>).Parley ?? {};
await smokeTest(outputs);
