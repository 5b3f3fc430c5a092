/**
 * The event stream end to end on the local stack: timeline items and undelivered records go from DynamoDB Local's
 * streams through the local event source mappings and the real consumer handler to the local EventBridge bus, with
 * partial PutEvents failures and a consumer crash injected on the way.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseEvent } from '../../lambdas/domain/events.js';
import type { BusEvent } from '../../local/event-bus.js';
import { controlApi, until } from '../support/faults.js';
import { connectAs, uniqueUser, type TestClient } from '../support/ws-client.js';

const info = inject('parley');
const control = controlApi(info);
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);
const clients: TestClient[] = [];
afterAll(() => Promise.all(clients.map((client) => client.close())));
let ids = 0;
const nextId = () => `ev-${++ids}`;

/** Events on the local bus whose JSON contains `text`. */
async function eventsWith(text: string): Promise<BusEvent[]> {
  const response = await fetch(`${info.eventsUrl}/_events?contains=${encodeURIComponent(text)}`);
  return ((await response.json()) as { events: BusEvent[] }).events;
}

/** Every timeline item of a conversation, as stored. */
async function timeline(conversationId: string) {
  const { Items = [] } = await ddb.send(
    new QueryCommand({
      TableName: info.tableNames.messages,
      KeyConditionExpression: 'conversationId = :c AND seq > :zero',
      ExpressionAttributeValues: { ':c': conversationId, ':zero': 0 },
      ConsistentRead: true,
    }),
  );
  return Items as { seq: number; epoch: string; kind?: string }[];
}

const detailTypes: Record<string, string> = {
  message: 'message.sent',
  edit: 'message.edited',
  delete: 'message.deleted',
  member_added: 'member.added',
  member_removed: 'member.removed',
  role_changed: 'member.role_changed',
  title_changed: 'conversation.title_changed',
  retention_changed: 'conversation.retention_changed',
};

describe('event stream', () => {
  it('yields exactly one event id per timeline change despite refused entries, a crashed consumer and redelivery', async () => {
    const [owner, member] = await Promise.all([connectAs(info, uniqueUser('evowner')), connectAs(info, uniqueUser('evmember'))]);
    clients.push(owner, member);
    const offline = uniqueUser('evoffline');
    const extra = uniqueUser('evextra');
    const created = await owner.request({ action: 'createConversation', kind: 'group', title: 'events', members: [member.userId, offline, extra] });
    const conversationId: string = created.conversation.conversationId;

    // Refuse the first three entries of this conversation, and crash the consumer once after it handled an edit.
    const [refused, crashed] = await control.addFaults([
      { target: 'events:PutEvents', match: conversationId, times: 3 },
      { target: 'streams:crash', match: [conversationId, '"edit"'], times: 1 },
    ]);

    const send = async (client: TestClient, body: string) => {
      const ack = await client.request({ action: 'send', conversationId, clientMessageId: nextId(), body });
      expect(ack, JSON.stringify(ack)).toMatchObject({ type: 'ack' });
      return ack.seq as number;
    };
    const first = await send(owner, 'one');
    await send(member, 'two');
    const lifecycle = [
      { action: 'edit', conversationId, seq: first, clientMessageId: nextId(), body: 'one, edited' },
      { action: 'react', conversationId, seq: first, clientMessageId: nextId(), emoji: '👍' },
      { action: 'unreact', conversationId, seq: first, clientMessageId: nextId(), emoji: '👍' },
      { action: 'setRole', conversationId, userId: member.userId, role: 'admin' },
      { action: 'updateConversation', conversationId, title: 'renamed' },
      { action: 'updateConversation', conversationId, retentionDays: 7 },
      { action: 'removeMembers', conversationId, members: [extra] },
      { action: 'deleteMessage', conversationId, seq: first, clientMessageId: nextId() },
    ];
    for (const request of lifecycle) {
      const reply = await owner.request(request);
      expect(reply.type, JSON.stringify(reply)).not.toBe('error');
    }
    await send(owner, 'three');

    const items = await timeline(conversationId);
    expect(items.length).toBeGreaterThanOrEqual(10);
    const expected = new Map(items.map((item) => [`${conversationId}/${item.epoch}/${item.seq}`, item]));
    const timelineEvents = async () => (await eventsWith(conversationId)).filter((event) => event['detail-type'] !== 'message.undelivered');
    await until(
      'an event for every timeline change',
      async () => {
        const seen = new Set((await timelineEvents()).map((event) => event.detail.eventId));
        return [...expected.keys()].every((id) => seen.has(id));
      },
      30_000,
    );

    const events = await timelineEvents();
    const byId = new Map<string, BusEvent[]>();
    for (const event of events) byId.set(String(event.detail.eventId), [...(byId.get(String(event.detail.eventId)) ?? []), event]);
    // Distinct ids are exactly the changes: nothing missing, no change under a second id.
    expect([...byId.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, copies] of byId) {
      const item = expected.get(id)!;
      // Redelivered copies carry the same id and the same detail.
      for (const copy of copies) expect(copy.detail).toEqual(copies[0]!.detail);
      const event = parseEvent(copies[0]!['detail-type'], copies[0]!.detail);
      expect(event.detail.seq).toBe(item.seq);
      if (item.kind !== 'reaction') expect(event.detailType).toBe(detailTypes[item.kind ?? 'message']);
      else expect(['reaction.added', 'reaction.removed']).toContain(event.detailType);
    }
    // The faults engaged, so retries really happened (a crashed batch is handled again, refused entries republished).
    expect((await control.fault(refused!)).fired).toBe(3);
    expect((await control.fault(crashed!)).fired).toBe(1);
    const sent = [...byId.values()].map((copies) => copies[0]!).find((event) => event.detail.seq === first)!;
    expect(sent.detail).toMatchObject({ body: 'one', actorId: owner.userId, version: 1 });
  });

  it('reports members without a live connection as undelivered, and never online ones', async () => {
    const [sender, online] = await Promise.all([connectAs(info, uniqueUser('udsender')), connectAs(info, uniqueUser('udonline'))]);
    clients.push(sender, online);
    const away = uniqueUser('udaway');
    const group = await sender.request({ action: 'createConversation', kind: 'group', title: 'undelivered', members: [online.userId, away] });
    const conversationId: string = group.conversation.conversationId;
    const ack = await sender.request({ action: 'send', conversationId, clientMessageId: nextId(), body: 'are you there?' });
    expect(ack).toMatchObject({ type: 'ack' });

    await until('the undelivered event', async () => (await eventsWith(conversationId)).some((e) => e['detail-type'] === 'message.undelivered'));
    const undelivered = (await eventsWith(conversationId)).filter((event) => event['detail-type'] === 'message.undelivered');
    const ids = new Set(undelivered.map((event) => event.detail.eventId));
    expect(ids.size).toBe(1);
    const event = parseEvent('message.undelivered', undelivered[0]!.detail);
    expect(event.detail).toMatchObject({ conversationId, seq: ack.seq, senderId: sender.userId, userIds: [away], preview: 'are you there?' });

    // Between two online users nothing is recorded: the inline fanout wrote before the ack, so the table tells.
    const direct = await sender.request({ action: 'createConversation', kind: 'direct', userId: online.userId });
    const directId: string = direct.conversation.conversationId;
    expect(await sender.request({ action: 'send', conversationId: directId, clientMessageId: nextId(), body: 'hi' })).toMatchObject({ type: 'ack' });
    const { Items = [] } = await ddb.send(
      new ScanCommand({
        TableName: info.tableNames.undelivered,
        FilterExpression: 'conversationId IN (:d, :g)',
        ExpressionAttributeValues: { ':d': directId, ':g': conversationId },
        ConsistentRead: true,
      }),
    );
    expect(Items.map((item) => item.conversationId)).toEqual([conversationId]);
    expect(Items[0]!.userIds).toEqual([away]);
  });
});
