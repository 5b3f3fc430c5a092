/** `npm start`: builds the web chat and runs the whole local stack until Ctrl-C. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startLocalStack } from './stack.js';
import { localArchiveDir, localStackFile, type LocalStackRecord } from './stack-record.js';

const root = join(import.meta.dirname, '..');
const port = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number, got "${process.env[name]}"`);
  return value;
};

execFileSync(process.execPath, [join(root, 'web', 'build.mjs')], { stdio: 'inherit' });

const stack = await startLocalStack({
  httpPort: port('PORT', 3000),
  wsPort: port('WS_PORT', 3001),
  serverApiPort: port('SERVER_API_PORT', 3002),
  host: process.env.HOST ?? '127.0.0.1',
  dataDir: join(root, '.data', 'dynamodb'),
  // The archive's bucket layout in a folder (what `-c archive=true` writes to S3).
  archiveDir: join(root, localArchiveDir),
  webDir: join(root, 'web', 'dist'),
  printEvents: true,
  // Stream checkpoints are not kept across restarts: start at the end instead of replaying a day of persisted data.
  streamStartingPosition: 'LATEST',
});

// Scripts such as `npm run disconnect-user` find the running stack here.
const recordPath = join(root, localStackFile);
const record: LocalStackRecord = {
  presenceTable: stack.tableNames.presence,
  callbackUrl: stack.callbackUrl,
  fanoutQueueUrl: stack.queueUrls.fanout,
  dynamodbEndpoint: stack.dynamodbEndpoint,
  sqsEndpoint: stack.sqsEndpoint,
};
mkdirSync(dirname(recordPath), { recursive: true });
writeFileSync(recordPath, `${JSON.stringify(record, null, 2)}\n`);

// The curl arguments that sign like the backend role; every server API example below uses them.
const signed = `curl --aws-sigv4 "aws:amz:${stack.serverApiRegion}:execute-api" --user "${stack.serverApiCredentials.accessKeyId}:${stack.serverApiCredentials.secretAccessKey}"`;

console.log(`
Parley is running locally.

  Web chat         ${stack.httpUrl}
  WebSocket API    ${stack.wsUrl}?token=<JWT>
  Dev tokens       ${stack.httpUrl}/dev/token?user=alice   (&expiresIn=<seconds>, default 12 h)
  @connections     ${stack.callbackUrl}/@connections/{connectionId}
  DynamoDB Local   ${stack.dynamodbEndpoint}   (data in .data/dynamodb)
  SQS (fauxqs)     ${stack.sqsEndpoint}
  Event bus        ${stack.eventsUrl}   (PutEvents; every event is printed below as [event] …)

Chat from a terminal:
  TOKEN=$(curl -s '${stack.httpUrl}/dev/token?user=alice' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  npx wscat -c "${stack.wsUrl}?token=$TOKEN"
  > {"action":"createConversation","requestId":"1","kind":"direct","userId":"bob"}
  > {"action":"send","requestId":"2","conversationId":"<conversationId from the reply>","clientMessageId":"m1","body":"hi bob"}

Server API (SigV4, like the backend role on AWS; docs/SERVER-API.md):
  URL              ${stack.serverApiUrl}
  AWS_ACCESS_KEY_ID=${stack.serverApiCredentials.accessKeyId}  AWS_SECRET_ACCESS_KEY=${stack.serverApiCredentials.secretAccessKey}  region ${stack.serverApiRegion}
  ${signed} \\
    -H 'content-type: application/json' -d '{"externalId":"ticket-1","title":"Ticket 1","members":["alice","bob"]}' ${stack.serverApiUrl}/conversations
  ${signed} '${stack.serverApiUrl}/conversations/by-external-id?externalId=ticket-1'
  ${signed} -X POST ${stack.serverApiUrl}/users/alice/erase        erase alice's messages (GDPR; the archive in ${localArchiveDir} too)
  Server SDK:
    new ParleyServerClient({ url: '${stack.serverApiUrl}', region: '${stack.serverApiRegion}' })   // credentials from the AWS chain (env above)
      .postMessage({ conversationId, clientMessageId: 'welcome-1', body: 'Welcome!', botId: 'welcome' })
Events (docs/EVENTS.md):
  curl -s '${stack.eventsUrl}/_events?contains=<conversationId>'        what the bus received
  curl -s '${stack.eventsUrl}/_events/dead-letters'                     what the webhook never accepted
  Webhook: ${process.env.PARLEY_WEBHOOK_URL ? `every event is POSTed to ${process.env.PARLEY_WEBHOOK_URL}` : 'PARLEY_WEBHOOK_URL=https://… npm start   (optional PARLEY_WEBHOOK_API_KEY, sent as x-api-key)'}

Ctrl-C stops everything.
`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the local stack...`);
  rmSync(recordPath, { force: true });
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
