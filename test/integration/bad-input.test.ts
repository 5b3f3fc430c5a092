/**
 * Bad input over a real WebSocket: generated frames (wrong types, huge strings, deep nesting, unicode edge cases
 * including lone surrogates, binary frames, missing and extra fields, non-JSON) thrown at every action. Each gets an
 * error frame (with its requestId back whenever the frame had a readable one), the connection stays usable, and no
 * stored data changes. Frames over API Gateway's 32 KB close the connection with 1009.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { actions } from '../../lib/definitions.js';
import { defaultWireLimits, fixedLimits } from '../../protocol/limits.js';
import { connectAs, uniqueUser, type Frame, type TestClient } from '../support/ws-client.js';

const info = inject('parley');
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);
const { maxFrameBytes, maxBodyChars, maxGroupMembers, maxMembersPerRequest } = defaultWireLimits;
const errorCodes = ['invalid_json', 'unknown_action', 'bad_request', 'payload_too_large', 'forbidden', 'not_found', 'limit_exceeded', 'rate_limited'];

let fuzzer: TestClient;
let peer: string;
let group: string;
let direct: string;

beforeAll(async () => {
  peer = uniqueUser('fuzz-peer');
  fuzzer = await connectAs(info, uniqueUser('fuzzer'));
  group = (await fuzzer.request({ action: 'createConversation', kind: 'group', title: 'fuzz', members: [peer] })).conversation.conversationId;
  direct = (await fuzzer.request({ action: 'createConversation', kind: 'direct', userId: peer })).conversation.conversationId;
  for (const conversationId of [group, direct]) {
    await fuzzer.request({ action: 'send', conversationId, clientMessageId: 'seed-1', body: 'seed' });
    await fuzzer.request({ action: 'ack', conversationId, kind: 'read', seq: 1 });
  }
});
afterAll(() => fuzzer.close());

/** Everything the fuzzed requests could have changed, read consistently. */
async function snapshot() {
  const query = (TableName: string, conversationId: string) =>
    ddb.send(
      new QueryCommand({ TableName, KeyConditionExpression: 'conversationId = :c', ExpressionAttributeValues: { ':c': conversationId }, ConsistentRead: true }),
    );
  const byUser = (userId: string) =>
    ddb.send(
      new QueryCommand({
        TableName: info.tableNames.members,
        IndexName: 'byUser',
        KeyConditionExpression: 'userId = :u',
        ExpressionAttributeValues: { ':u': userId },
      }),
    );
  const conversations = await Promise.all(
    [group, direct].map(async (conversationId) => ({
      conversation: (await ddb.send(new GetCommand({ TableName: info.tableNames.conversations, Key: { conversationId }, ConsistentRead: true }))).Item,
      members: (await query(info.tableNames.members, conversationId)).Items,
      messages: (await query(info.tableNames.messages, conversationId)).Items,
    })),
  );
  const memberships = await Promise.all([fuzzer.userId, peer].map(async (userId) => (await byUser(userId)).Items));
  const idempotency = await ddb.send(
    new ScanCommand({
      TableName: info.tableNames.idempotency,
      FilterExpression: 'contains(idempotencyKey, :u)',
      ExpressionAttributeValues: { ':u': fuzzer.userId },
      ConsistentRead: true,
    }),
  );
  const presence = await Promise.all(
    [fuzzer.userId, peer].map(
      async (userId) => (await ddb.send(new GetCommand({ TableName: info.tableNames.presence, Key: { userId }, ConsistentRead: true }))).Item,
    ),
  );
  return { conversations, memberships, idempotency: idempotency.Items, presence };
}

/** A value written into the JSON text as is (deep nesting, numbers JSON.stringify cannot produce). */
class Raw {
  constructor(readonly text: string) {}
}
type Entries = [string, unknown][];
const jsonText = (entries: Entries) =>
  `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value instanceof Raw ? value.text : JSON.stringify(value)}`).join(',')}}`;

/** A generated frame, what kind of bad it is, and the requestId it carries (when it is readable). */
interface Case {
  kind: string;
  data: string | Buffer;
  requestId?: string;
  codes: string[];
}

// --- invalid values, by the type a field expects -------------------------------------------------------------
const loneSurrogate = fc.constantFrom('\uD800', '\uDBFF', '\uDC00', 'a\uDFFFb', 'x\uD83D', '\uDE00y', '\uD83D\uD83D');
const unicodeJunk = fc.constantFrom('😀', 'e\u0301', '\u202Eevil', '\u200B', '\u0000', '\uFEFF', '\uFFFE', 'ǅ', '𝔘𝔫𝔦', '👩‍👩‍👧‍👦', 'ﷺ', '\u2028');
const nested = (maxDepth: number) =>
  fc
    .integer({ min: 20, max: maxDepth })
    .chain((depth) => fc.constantFrom(new Raw(`${'['.repeat(depth)}${']'.repeat(depth)}`), new Raw(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)));
const deepNesting = nested(2500);
const scalarsBut = (...exclude: string[]) =>
  fc.oneof(
    ...[
      ['number', fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))],
      ['boolean', fc.boolean()],
      ['null', fc.constant(null)],
      ['string', fc.string({ maxLength: 20 })],
      ['array', fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 })],
      ['object', fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })],
      ['raw', fc.constantFrom(new Raw('1e309'), new Raw('-0'), new Raw('1E+2'), new Raw('0.0000001'))],
    ]
      .filter(([type]) => !exclude.includes(type as string))
      .map(([, arbitrary]) => arbitrary as fc.Arbitrary<unknown>),
    deepNesting,
  );
const badText = (max: number) =>
  fc.oneof(
    fc.constant(''),
    // Limits count UTF-16 code units: max + 1 characters of one unit, of two units (an emoji), and max + 2 units.
    fc.constantFrom('x'.repeat(max + 1), '😀'.repeat(max + 1), `${'é'.repeat(max)}e\u0301`),
    fc.tuple(fc.string({ maxLength: 10 }), loneSurrogate, fc.string({ maxLength: 10 })).map((parts) => parts.join('')),
    scalarsBut('string', 'raw'),
  );
const badId = fc.oneof(
  fc.string({ maxLength: 30 }).filter((value) => !/^(dm|grp)_[A-Za-z0-9-]{1,64}$/.test(value)),
  fc
    .tuple(fc.constantFrom('grp_', 'dm_', ''), fc.oneof(unicodeJunk, loneSurrogate, fc.constant('x'.repeat(65)), fc.constant(' ')))
    .map((parts) => parts.join('')),
  scalarsBut('string', 'raw'),
);
const badUserId = fc.oneof(
  fc.constantFrom('', 'a b', '../alice', 'x'.repeat(129), 'alice\n', 'alice/bob'),
  unicodeJunk,
  loneSurrogate,
  scalarsBut('string', 'raw'),
);
const badInt = (min: number, max: number) =>
  fc.oneof(
    fc.constantFrom(min - 1, max + 1, 1.5, -1, Number.MAX_SAFE_INTEGER + 2),
    fc.constantFrom(new Raw('1e309'), new Raw('1.0000001')),
    scalarsBut('number', 'raw'),
  );
const badEnum = (allowed: string[]) =>
  fc.oneof(
    fc.string({ maxLength: 10 }).filter((value) => !allowed.includes(value)),
    fc.constantFrom(...allowed.map((value) => value.toUpperCase()), ` ${allowed[0]}`),
    scalarsBut('string'),
  );
const badList = (max: number, item: fc.Arbitrary<unknown>, valid: string) =>
  fc.oneof(
    fc.constant([]),
    fc.constant(Array.from({ length: max + 1 }, (_, i) => `${valid}${i}`)),
    fc.tuple(fc.array(fc.constant(valid), { maxLength: 3 }), item).map(([good, bad]) => [...good, bad]),
    scalarsBut('array', 'raw'),
  );
const badCursor = fc.oneof(
  badInt(0, Number.MAX_SAFE_INTEGER).map((seq) => ({ seq, epoch: null })),
  fc.oneof(fc.constant(''), fc.constant('e'.repeat(33)), scalarsBut('string', 'null', 'raw')).map((epoch) => ({ seq: 1, epoch })),
  fc.constantFrom({ seq: 1 }, { epoch: 'e' }, 3, null, []),
);
const badCursors = fc.oneof(
  // A valid key with a bad cursor, or a key that is no conversation id with a valid cursor.
  fc.tuple(fc.constantFrom('dm_abc', 'grp_x-1'), badCursor).map(([key, cursor]) => ({ [key]: cursor })),
  badId.filter((key): key is string => typeof key === 'string' && key !== '__proto__').map((key) => ({ [key]: { seq: 0, epoch: null } })),
  fc.constant(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`dm_c${i}`, { seq: 0, epoch: null }]))),
  scalarsBut('object', 'null', 'raw'),
);
const badOptionalString = (max: number) => fc.oneof(fc.constantFrom('', 'x'.repeat(max + 1)), scalarsBut('string', 'null', 'raw'));

/** Each action: a valid request, and for each field an arbitrary of invalid values and whether it is required. */
function actionSpecs() {
  const valid = {
    hello: { action: 'hello' },
    createConversationDirect: { action: 'createConversation', kind: 'direct', userId: peer },
    createConversationGroup: { action: 'createConversation', kind: 'group', title: 'fuzzed', members: [peer] },
    addMembers: { action: 'addMembers', conversationId: group, members: [peer] },
    listConversations: { action: 'listConversations', limit: 10 },
    send: { action: 'send', conversationId: group, clientMessageId: 'fuzz', body: 'must never be stored' },
    history: { action: 'history', conversationId: group, limit: 5 },
    sync: { action: 'sync', cursors: { [group]: { seq: 0, epoch: null } }, limit: 10 },
    heartbeat: { action: 'heartbeat' },
    ack: { action: 'ack', conversationId: direct, kind: 'read', seq: 1 },
    typing: { action: 'typing', conversationId: group, state: 'start' },
    presence: { action: 'presence', userIds: [peer] },
  } satisfies Record<string, Record<string, unknown>>;
  const fields: Record<keyof typeof valid, Record<string, { bad: fc.Arbitrary<unknown>; required: boolean }>> = {
    hello: {},
    createConversationDirect: { kind: { bad: badEnum(['direct', 'group']), required: true }, userId: { bad: badUserId, required: true } },
    createConversationGroup: {
      title: { bad: badText(fixedLimits.maxTitleChars), required: true },
      members: { bad: badList(maxGroupMembers, badUserId, 'u'), required: true },
    },
    addMembers: { conversationId: { bad: badId, required: true }, members: { bad: badList(maxMembersPerRequest, badUserId, 'u'), required: true } },
    listConversations: {
      limit: { bad: badInt(1, 100), required: false },
      // Any string this server did not issue, not only over-long ones.
      cursor: {
        bad: fc.oneof(badOptionalString(512), fc.string({ minLength: 1, maxLength: 40 }), fc.base64String({ minLength: 4, maxLength: 40 })),
        required: false,
      },
    },
    send: {
      conversationId: { bad: badId, required: true },
      clientMessageId: { bad: badText(fixedLimits.maxClientIdChars), required: true },
      body: { bad: badText(maxBodyChars), required: true },
    },
    history: {
      conversationId: { bad: badId, required: true },
      beforeSeq: { bad: badInt(1, Number.MAX_SAFE_INTEGER), required: false },
      limit: { bad: badInt(1, 100), required: false },
    },
    sync: {
      cursors: { bad: badCursors, required: false },
      limit: { bad: badInt(1, 100), required: false },
      from: { bad: badId, required: false },
      through: { bad: badId, required: false },
    },
    heartbeat: {},
    ack: {
      conversationId: { bad: badId, required: true },
      kind: { bad: badEnum(['delivered', 'read']), required: true },
      seq: { bad: badInt(1, Number.MAX_SAFE_INTEGER), required: true },
    },
    typing: { conversationId: { bad: badId, required: true }, state: { bad: badEnum(['start', 'stop']), required: false } },
    presence: { userIds: { bad: badList(100, badUserId, 'u'), required: true } },
  };
  return { valid, fields };
}

const requestIds = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ minLength: 1, maxLength: 10, unit: 'grapheme' }),
  fc.tuple(fc.string({ maxLength: 5 }), loneSurrogate).map((parts) => parts.join('')),
  fc.constant('r'.repeat(128)),
);
/** Extra fields a request may carry; they are ignored, and must not turn an invalid request into a valid one. */
const extras = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom('senderId', 'createdBy', '__proto__', 'constructor', 'isAdmin', 'connectionId', '$default', ''), fc.string({ maxLength: 12 })),
    fc.oneof(fc.jsonValue({ maxDepth: 3 }), unicodeJunk, loneSurrogate, nested(200)),
  ),
  { maxLength: 3 },
);

function cases(): fc.Arbitrary<Case> {
  const { valid, fields } = actionSpecs();
  const names = Object.keys(valid) as (keyof typeof valid)[];
  const reserved = (name: keyof typeof valid) => new Set(['action', 'requestId', 'kind', 'userId', 'userIds', ...Object.keys(fields[name])]);
  const withExtras = (name: keyof typeof valid, entries: Entries, extra: [string, unknown][]) => [
    ...entries,
    ...extra.filter(([key]) => !reserved(name).has(key)),
  ];
  const sized = (kind: string, entries: Entries, requestId: string | undefined, code: string): Case => {
    const data = jsonText(entries);
    const tooLarge = Buffer.byteLength(data) > maxFrameBytes;
    return { kind, data, requestId, codes: tooLarge ? ['payload_too_large'] : [code] };
  };

  const mutatedField = fc
    .constantFrom(...names.filter((name) => Object.keys(fields[name]).length > 0))
    .chain((name) =>
      fc
        .tuple(fc.constant(name), fc.constantFrom(...Object.keys(fields[name])))
        .chain(([action, field]) =>
          fc.record({ action: fc.constant(action), field: fc.constant(field), value: fields[action][field]!.bad, requestId: requestIds, extra: extras }),
        ),
    )
    .map(({ action, field, value, requestId, extra }) => {
      const entries: Entries = Object.entries(valid[action]).map(([key, current]) => [key, key === field ? value : current]);
      if (!(field in valid[action])) entries.push([field, value]);
      return sized(`${action}.${field}`, withExtras(action, [['requestId', requestId], ...entries], extra), requestId, 'bad_request');
    });

  const missingField = fc
    .constantFrom(
      ...names.flatMap((name) =>
        Object.entries(fields[name])
          .filter(([, spec]) => spec.required)
          .map(([field]) => [name, field] as const),
      ),
    )
    .chain(([action, field]) => fc.record({ action: fc.constant(action), field: fc.constant(field), requestId: requestIds, extra: extras }))
    .map(({ action, field, requestId, extra }) => {
      const entries = Object.entries(valid[action]).filter(([key]) => key !== field);
      return sized(`${action} without ${field}`, withExtras(action, [['requestId', requestId], ...entries], extra), requestId, 'bad_request');
    });

  const badRequestId = fc
    .record({
      action: fc.constantFrom(...names),
      requestId: fc.oneof(fc.constant(undefined), fc.constantFrom('', 'r'.repeat(129)), scalarsBut('string', 'raw')),
    })
    .map(({ action, requestId }) => {
      const entries: Entries = Object.entries(valid[action]);
      if (requestId !== undefined) entries.push(['requestId', requestId]);
      return sized(`${action} with a bad requestId`, entries, undefined, 'bad_request');
    });

  const unknownAction = fc
    .record({
      action: fc.oneof(
        fc.string({ maxLength: 20 }).filter((value) => !(actions as readonly string[]).includes(value) && !value.startsWith('$')),
        fc.constantFrom('Send', 'SEND', ' send', 'send ', 'send\u0000', 'sеnd' /* Cyrillic e */, 'toString', '__proto__', 'constructor', '$default'),
        scalarsBut('string', 'raw'),
      ),
      requestId: requestIds,
      drop: fc.boolean(),
    })
    .map(({ action, requestId, drop }) => {
      const entries: Entries = [['requestId', requestId], ...(drop ? [] : ([['action', action]] as Entries)), ['conversationId', group], ['body', 'x']];
      return sized('unknown action', entries, requestId, 'unknown_action');
    });

  const notAnObject = fc
    .jsonValue({ maxDepth: 3 })
    .filter((value) => typeof value !== 'object' || value === null || Array.isArray(value))
    .map((value): Case => ({ kind: 'JSON that is not an object', data: JSON.stringify(value), codes: ['invalid_json'] }));

  const notJson = fc
    .oneof(
      fc.string({ maxLength: 60, unit: 'binary' }),
      fc.constantFrom('', ' ', '{', '{"action":"send"', "{'action':'send'}", '{"action":"send",}', 'NaN', 'undefined', '\uFEFF{}', '{"a":1}{"b":2}'),
      fc.constant(JSON.stringify({ ...valid.send, requestId: 'truncated' }).slice(0, -1)),
    )
    .filter((text) => {
      try {
        const parsed: unknown = JSON.parse(text);
        return typeof parsed !== 'object' || parsed === null || Array.isArray(parsed);
      } catch {
        return true;
      }
    })
    .map((text): Case => ({ kind: 'not JSON', data: text, codes: ['invalid_json'] }));

  const binary = fc
    .oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom(...names).map((name) => new TextEncoder().encode(JSON.stringify({ ...valid[name], requestId: 'binary' }))),
    )
    .map((bytes): Case => ({ kind: 'binary frame', data: Buffer.from(bytes), codes: ['invalid_json'] }));

  const oversize = fc
    .record({ action: fc.constantFrom(...names), requestId: requestIds, size: fc.integer({ min: maxFrameBytes + 1, max: 31 * 1024 }) })
    .map(({ action, requestId, size }) => {
      const entries: Entries = [['requestId', requestId], ...Object.entries(valid[action])];
      const padding = Math.max(0, size - Buffer.byteLength(jsonText(entries)) - 12);
      return sized('over 16 KB', [...entries, ['padding', 'p'.repeat(padding)]], requestId, 'payload_too_large');
    });

  const all = fc.oneof(
    { arbitrary: mutatedField, weight: 6 },
    { arbitrary: missingField, weight: 2 },
    { arbitrary: badRequestId, weight: 1 },
    { arbitrary: unknownAction, weight: 1 },
    { arbitrary: notAnObject, weight: 1 },
    { arbitrary: notJson, weight: 1 },
    { arbitrary: binary, weight: 1 },
    { arbitrary: oversize, weight: 1 },
  );
  // Frames over 32 KB close the connection (tested on their own below).
  return all.filter((frame) => Buffer.byteLength(frame.data) < 32 * 1024);
}

/** Sends one frame and returns the next frame the server sends. */
async function exchange(client: TestClient, data: string | Buffer): Promise<Frame> {
  const index = client.frames.length;
  client.sendRaw(data);
  await client.waitFor(() => client.frames.length > index, { timeoutMs: 10_000 });
  return client.frames[index]!;
}

/** A readable requestId: a string of 1-128 UTF-16 code units. */
const readable = (requestId: unknown): requestId is string => typeof requestId === 'string' && requestId.length >= 1 && requestId.length <= 128;

describe('bad input', () => {
  it('answers every generated bad frame with an error frame, stays usable, and stores nothing', async () => {
    const before = await snapshot();
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(cases(), async (frame) => {
        seen.set(frame.kind.replace(/\..*| without .*/, ''), (seen.get(frame.kind.replace(/\..*| without .*/, '')) ?? 0) + 1);
        const reply = await exchange(fuzzer, frame.data);
        expect(reply, `${frame.kind}: ${String(frame.data).slice(0, 300)}`).toMatchObject({
          type: 'error',
          code: expect.any(String),
          message: expect.any(String),
        });
        expect(frame.codes, `${frame.kind}: ${JSON.stringify(reply)}`).toContain(reply.code);
        expect(errorCodes).toContain(reply.code);
        if (readable(frame.requestId)) expect(reply.requestId).toBe(frame.requestId);
        else expect(reply).not.toHaveProperty('requestId');
        // Still usable: a valid request right after succeeds.
        const next = await fuzzer.request({ action: 'history', conversationId: group, limit: 1 });
        expect(next, JSON.stringify(next)).toMatchObject({ type: 'history', messages: [expect.objectContaining({ seq: 1 })] });
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
    expect(fuzzer.socket.readyState).toBe(fuzzer.socket.OPEN);
    // Every action and every kind of bad frame was exercised.
    for (const kind of ['binary frame', 'not JSON', 'JSON that is not an object', 'unknown action', 'over 16 KB'])
      expect(seen.get(kind) ?? 0).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
  });

  it('answers frames of 16–32 KB with payload_too_large and closes the connection with 1009 above 32 KB', async () => {
    const client = await connectAs(info, uniqueUser('big'));
    const frame = (bytes: number) => {
      const base = JSON.stringify({ action: 'send', requestId: 'big', conversationId: group, clientMessageId: 'big', body: '' });
      return base.replace('"body":""', `"body":"${'b'.repeat(bytes - base.length)}"`);
    };
    expect(Buffer.byteLength(frame(32 * 1024))).toBe(32 * 1024);
    expect(await exchange(client, frame(16 * 1024 + 1))).toMatchObject({ type: 'error', code: 'payload_too_large', requestId: 'big' });
    expect(await exchange(client, frame(32 * 1024))).toMatchObject({ type: 'error', code: 'payload_too_large', requestId: 'big' });
    expect(await client.request({ action: 'heartbeat' })).toMatchObject({ type: 'pong' });
    client.sendRaw(frame(32 * 1024 + 1));
    expect((await client.closed).code).toBe(1009);

    const binary = await connectAs(info, uniqueUser('big-binary'));
    binary.sendRaw(Buffer.alloc(32 * 1024 + 1, 7));
    expect((await binary.closed).code).toBe(1009);
    // The user reconnects and carries on.
    const again = await connectAs(info, client.userId);
    expect(await again.request({ action: 'heartbeat' })).toMatchObject({ type: 'pong' });
    await again.close();
  });
});
