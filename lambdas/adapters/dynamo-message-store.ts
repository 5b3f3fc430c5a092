import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type {
  Allocation,
  AllocationGuard,
  AppendResult,
  ClaimResult,
  ItemScrub,
  MessageStore,
  NewMessage,
  SendClaim,
  StateWrite,
  TimelineAppend,
  TimelineItem,
} from '../domain/ports.js';
import type { Message } from '../domain/types.js';
import type { StoredMessage } from '../domain/ports.js';
import { cancellationReasons, conditionFailureItem, isConditionalCheckFailed } from './dynamo-errors.js';
import { sameSend } from '../domain/seq-holes.js';

/** The idempotency key of a send: who sent which client id into which conversation. */
export const idempotencyKey = (message: Pick<NewMessage, 'conversationId' | 'senderId' | 'clientMessageId'>) =>
  JSON.stringify([message.conversationId, message.senderId, message.clientMessageId]);

// Optional fields of timeline items, copied as stored.
const optionalFields = [
  'kind',
  'editedAt',
  'deleted',
  'erased',
  'reactions',
  'userIds',
  'role',
  'title',
  'retentionDays',
  'targetSeq',
  'emoji',
  'op',
  'stateSeq',
] as const;

/** A stored timeline item as clients see it (internal bookkeeping such as `editSeqs` stays server-side). */
export function toMessage(item: Record<string, unknown>): Message {
  const message: Message = {
    conversationId: String(item.conversationId),
    seq: Number(item.seq),
    senderId: String(item.senderId),
    clientMessageId: String(item.clientMessageId ?? ''),
    // A deleted message keeps no body.
    body: String(item.body ?? ''),
    createdAt: String(item.createdAt),
    ...(typeof item.epoch === 'string' ? { epoch: item.epoch } : {}),
  };
  for (const field of optionalFields) {
    const value = item[field];
    if (value === undefined) continue;
    (message as unknown as Record<string, unknown>)[field] =
      field === 'userIds' && value instanceof Set ? [...value] : field === 'targetSeq' ? Number(value) : value;
  }
  return message;
}

/** A stored item as reads return it: the wire item and its TTL expiry (kept off the wire by the domain). */
function toTimelineItem(item: Record<string, unknown>): TimelineItem {
  return item.expiresAt === undefined ? toMessage(item) : { ...toMessage(item), expiresAt: Number(item.expiresAt) };
}

/** Table names the timeline transaction writes besides the messages and idempotency tables. */
export interface TimelineTables {
  conversations: string;
  members: string;
  users: string;
}

/**
 * Key of a conversation's head item: seq 0 of its partition in the messages table, holding `lastSeq` and
 * `lastMessageAt`. A small item of its own, so advancing it costs the same whatever the size of the group
 * (the conversation item carries the member set and grows with it).
 */
export const headKey = (conversationId: string) => ({ conversationId, seq: 0 });

/**
 * Appends with one TransactWriteItems: advance the head's lastSeq from the expected value, put the items at the
 * following seqs, claim the idempotency key and apply the state the items record (members, roles, title, the
 * edited message). Any failed condition cancels everything, so seqs stay gap-free, a retried request stores nothing,
 * and the timeline and the state it describes never disagree. Membership is checked by the caller on a snapshot
 * whose membershipSeq matches the head's; the lastSeq condition guarantees it still holds at commit.
 */
export class DynamoMessageStore implements MessageStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly messagesTable: string,
    private readonly idempotencyTable: string,
    private readonly tables?: TimelineTables,
  ) {}

  async append(message: NewMessage, expectedLastSeq: number, idempotencyTtlSeconds: number): Promise<AppendResult> {
    return this.appendTimeline({
      conversationId: message.conversationId,
      items: [{ ...message, kind: 'message' }],
      expectedLastSeq,
      epoch: message.epoch,
      idempotencyKey: idempotencyKey(message),
      idempotencyTtlSeconds,
      expiresAt: message.expiresAt,
    });
  }

  async appendTimeline(request: TimelineAppend): Promise<AppendResult> {
    const { conversationId, expectedLastSeq, idempotencyTtlSeconds } = request;
    const items = request.items.map((item, index) => ({ ...item, seq: expectedLastSeq + 1 + index, epoch: request.epoch, expiresAt: request.expiresAt }));
    const last = items.at(-1)!;
    const key = request.idempotencyKey;
    const membershipSeq = request.membershipChange ? last.seq : undefined;
    // An allocated seq needs no head update: `allocate` advanced it.
    const headItems = request.allocated ? 0 : 1;
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            ...(request.allocated
              ? []
              : [
                  {
                    Update: {
                      TableName: this.messagesTable,
                      Key: headKey(conversationId),
                      // The first item of a timeline gives the conversation its epoch.
                      UpdateExpression: headUpdate(membershipSeq !== undefined, request),
                      // A new conversation may have no head yet; every item of a timeline carries its epoch.
                      ConditionExpression:
                        expectedLastSeq === 0
                          ? '(attribute_not_exists(lastSeq) OR lastSeq = :expected) AND (attribute_not_exists(epoch) OR epoch = :epoch)'
                          : 'lastSeq = :expected AND epoch = :epoch',
                      ExpressionAttributeValues: {
                        ':seq': last.seq,
                        ':at': last.createdAt,
                        ':expected': expectedLastSeq,
                        ':epoch': request.epoch,
                        ...(request.expiresAt === undefined ? {} : { ':expires': request.expiresAt }),
                        ...(typeof request.retentionDays === 'number' ? { ':retention': request.retentionDays } : {}),
                      },
                      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
                    },
                  },
                ]),
            ...items.map((item) => ({
              Put: {
                TableName: this.messagesTable,
                Item: stripUndefined(item),
                ConditionExpression: 'attribute_not_exists(seq)',
              },
            })),
            ...(key === undefined
              ? []
              : [
                  {
                    Put: {
                      TableName: this.idempotencyTable,
                      Item: {
                        idempotencyKey: key,
                        seq: items[0]!.seq,
                        createdAt: items[0]!.createdAt,
                        expiresAt: Math.floor(Date.parse(items[0]!.createdAt) / 1000) + idempotencyTtlSeconds,
                      },
                      ConditionExpression: 'attribute_not_exists(idempotencyKey)',
                      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
                    },
                  },
                ]),
            ...(request.writes ?? []).map((write) => this.toTransactItem(write, membershipSeq)),
          ],
        }),
      );
      // The TTL stays server-side.
      const stored = items.map(({ expiresAt: _expiresAt, ...item }) => stripUndefined(item) as unknown as Message);
      return { status: 'stored', message: stored[0]!, items: stored };
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (!reasons) throw error;
      const head = request.allocated ? undefined : reasons[0];
      const idempotency = key === undefined ? undefined : reasons[headItems + items.length];
      if (key !== undefined && idempotency?.code === 'ConditionalCheckFailed') {
        const previous = idempotency.item ?? (await this.readIdempotency(key));
        if (!previous) throw error;
        // A send's claim without a seq holds the key: not this request's to record.
        if (previous.seq === undefined) return { status: 'conflict', lastSeq: expectedLastSeq, epoch: request.epoch };
        return { status: 'duplicate', seq: Number(previous.seq), createdAt: String(previous.createdAt) };
      }
      if (head?.code === 'ConditionalCheckFailed') {
        const current = head.item?.membershipSeq;
        const epoch = head.item?.epoch;
        const { retentionDays, lastExpiresAt } = head.item ?? {};
        return {
          status: 'conflict',
          lastSeq: Number(head.item?.lastSeq ?? 0),
          epoch: typeof epoch === 'string' ? epoch : null,
          ...(current === undefined ? {} : { membershipSeq: Number(current) }),
          retention: {
            ...(retentionDays === undefined ? {} : { retentionDays: Number(retentionDays) }),
            ...(lastExpiresAt === undefined ? {} : { lastExpiresAt: Number(lastExpiresAt) }),
          },
        };
      }
      const planned = request.allocated && reasons.some((reason) => reason.code === 'ConditionalCheckFailed');
      if (planned || reasons.some((reason) => reason.code === 'TransactionConflict')) {
        return { status: 'conflict', lastSeq: expectedLastSeq, epoch: request.epoch };
      }
      throw error;
    }
  }

  async claim(key: string, claim: SendClaim, ttlSeconds: number): Promise<ClaimResult> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.idempotencyTable,
          Item: stripUndefined({
            idempotencyKey: key,
            claimedAt: claim.claimedAt,
            afterSeq: claim.afterSeq,
            owner: claim.owner,
            expiresAt: Math.floor(claim.claimedAt / 1000) + ttlSeconds,
          }),
          ConditionExpression: 'attribute_not_exists(idempotencyKey)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { status: 'claimed' };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const held = conditionFailureItem(error) ?? (await this.readIdempotency(key));
      // Gone between the failed put and the read (TTL): claim again.
      if (!held) return this.claim(key, claim, ttlSeconds);
      return { status: 'held', claim: toClaim(held) };
    }
  }

  async takeOver(key: string, previous: SendClaim, next: SendClaim): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.idempotencyTable,
          Key: { idempotencyKey: key },
          UpdateExpression: `SET claimedAt = :next, afterSeq = :after${next.owner === undefined ? ' REMOVE #owner' : ', #owner = :owner'}`,
          ConditionExpression: 'claimedAt = :previous AND attribute_not_exists(seq)',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':next': next.claimedAt,
            ':after': next.afterSeq,
            ':previous': previous.claimedAt,
            ...(next.owner === undefined ? {} : { ':owner': next.owner }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async release(key: string, claim: SendClaim): Promise<void> {
    try {
      await this.ddb.send(
        new DeleteCommand({
          TableName: this.idempotencyTable,
          Key: { idempotencyKey: key },
          ConditionExpression: 'claimedAt = :mine AND attribute_not_exists(seq)',
          ExpressionAttributeValues: { ':mine': claim.claimedAt },
        }),
      );
    } catch (error) {
      // Taken over meanwhile: the claim is no longer ours to release.
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  async claimOf(key: string): Promise<SendClaim | undefined> {
    const item = await this.readIdempotency(key);
    return item && toClaim(item);
  }

  async allocate(conversationId: string, guard: AllocationGuard, at: string, expiresAt?: number): Promise<Allocation> {
    const conditions = ['(attribute_not_exists(epoch) OR epoch = :epoch)'];
    conditions.push(guard.membershipSeq === 0 ? '(attribute_not_exists(membershipSeq) OR membershipSeq = :ms)' : 'membershipSeq = :ms');
    conditions.push(guard.retentionDays === undefined ? 'attribute_not_exists(retentionDays)' : 'retentionDays = :retention');
    try {
      const { Attributes } = await this.ddb.send(
        new UpdateCommand({
          TableName: this.messagesTable,
          Key: headKey(conversationId),
          UpdateExpression:
            'SET lastSeq = if_not_exists(lastSeq, :zero) + :one, lastMessageAt = :at, epoch = if_not_exists(epoch, :epoch)' +
            (expiresAt === undefined ? '' : ', lastExpiresAt = :expires'),
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeValues: {
            ':zero': 0,
            ':one': 1,
            ':at': at,
            ':epoch': guard.epoch,
            ':ms': guard.membershipSeq,
            ...(guard.retentionDays === undefined ? {} : { ':retention': guard.retentionDays }),
            ...(expiresAt === undefined ? {} : { ':expires': expiresAt }),
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return { status: 'allocated', seq: Number(Attributes?.lastSeq), epoch: String(Attributes?.epoch ?? guard.epoch) };
    } catch (error) {
      if (isConditionalCheckFailed(error)) return { status: 'stale' };
      throw error;
    }
  }

  async putAt(item: TimelineItem): Promise<'stored' | 'taken'> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.messagesTable,
          Item: stripUndefined({ ...item }),
          ConditionExpression: 'attribute_not_exists(seq)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'stored';
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const there = conditionFailureItem(error) ?? (await this.get(item.conversationId, item.seq));
      return there && sameSend(there, item) ? 'stored' : 'taken';
    }
  }

  async fillHole(placeholder: TimelineItem): Promise<TimelineItem> {
    if ((await this.putAt(placeholder)) === 'stored') return placeholder;
    const found = await this.get(placeholder.conversationId, placeholder.seq);
    if (!found) throw new Error(`seq ${placeholder.seq} of ${placeholder.conversationId} is taken but cannot be read`);
    const { editSeqs: _editSeqs, ...item } = found;
    return item;
  }

  async findSent(
    conversationId: string,
    senderId: string,
    clientMessageId: string,
    afterSeq: number,
    bound: { maxItems: number; createdBefore?: string },
  ): Promise<TimelineItem | undefined> {
    let start: Record<string, unknown> | undefined;
    let read = 0;
    do {
      // No filter: the reads cost the same, and every item's createdAt is needed to know where to stop.
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.messagesTable,
          KeyConditionExpression: 'conversationId = :c AND seq > :after',
          ExpressionAttributeValues: { ':c': conversationId, ':after': afterSeq },
          Limit: Math.min(500, bound.maxItems - read),
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        read += 1;
        // A placeholder is stamped when it is filled, not when its seq was taken: it says nothing about where to stop.
        if (bound.createdBefore !== undefined && item.kind !== 'skipped' && String(item.createdAt) > bound.createdBefore) return undefined;
        if (sameSend(item, { senderId, clientMessageId })) return toTimelineItem(item);
      }
      start = page.LastEvaluatedKey;
    } while (start && read < bound.maxItems);
    return undefined;
  }

  /** Translates a domain state change into one transaction item. */
  private toTransactItem(write: StateWrite, membershipSeq: number | undefined) {
    const tables = this.tables;
    if (!tables) throw new Error('timeline writes need the conversations, members and users tables');
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    const adds: string[] = [];
    const deletes: string[] = [];
    const set = (name: string, value: unknown) => {
      const n = `#s${sets.length}`;
      names[n] = name;
      values[`:s${sets.length}`] = value;
      sets.push(`${n} = :s${sets.length}`);
    };
    switch (write.type) {
      case 'conversation': {
        if (write.title !== undefined) set('title', write.title);
        if (write.roles !== undefined) set('roles', write.roles);
        if (membershipSeq !== undefined) set('membershipSeq', membershipSeq);
        if (write.addMembers?.length) {
          adds.push('members :added');
          values[':added'] = new Set(write.addMembers);
        }
        if (write.removeMembers?.length) {
          deletes.push('members :removed');
          values[':removed'] = new Set(write.removeMembers);
        }
        if (write.accepted !== undefined) {
          deletes.push('pending :accepted');
          values[':accepted'] = new Set([write.accepted]);
        }
        return {
          Update: {
            TableName: tables.conversations,
            Key: { conversationId: write.conversationId },
            UpdateExpression: expression(sets, removes, adds, deletes),
            ConditionExpression: 'attribute_exists(conversationId)',
            ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
            ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
          },
        };
      }
      case 'member': {
        if (write.join) {
          set('joinedAt', write.join.joinedAt);
          set('role', write.join.role);
          // A re-added member keeps their receipt cursors.
          sets.push('lastDeliveredSeq = if_not_exists(lastDeliveredSeq, :zero)', 'lastReadSeq = if_not_exists(lastReadSeq, :zero)');
          values[':zero'] = 0;
          removes.push('removedAtSeq');
        }
        if (write.removedAtSeq !== undefined) set('removedAtSeq', write.removedAtSeq);
        if (write.role !== undefined && !write.join) set('role', write.role);
        if (write.peerAccepted) removes.push('peerPending');
        return {
          Update: {
            TableName: tables.members,
            Key: { conversationId: write.conversationId, userId: write.userId },
            UpdateExpression: expression(sets, removes, adds, deletes),
            ...(write.join ? {} : { ConditionExpression: 'attribute_exists(userId)' }),
            ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
            ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
          },
        };
      }
      case 'message': {
        for (const [name, value] of Object.entries(write.set ?? {})) set(name, value);
        if (typeof write.expectStateSeq === 'number') values[':expectedState'] = write.expectStateSeq;
        for (const name of write.remove ?? []) {
          const n = `#r${removes.length}`;
          names[n] = name;
          removes.push(n);
        }
        return {
          Update: {
            TableName: this.messagesTable,
            Key: { conversationId: write.conversationId, seq: write.seq },
            UpdateExpression: expression(sets, removes, adds, deletes),
            ConditionExpression:
              write.expectStateSeq === undefined
                ? 'attribute_exists(seq)'
                : write.expectStateSeq === null
                  ? 'attribute_exists(seq) AND attribute_not_exists(stateSeq)'
                  : 'attribute_exists(seq) AND stateSeq = :expectedState',
            ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
            ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
          },
        };
      }
      case 'userItem':
        return write.delete
          ? { Delete: { TableName: tables.users, Key: { userId: write.userId, item: write.item } } }
          : { Put: { TableName: tables.users, Item: { ...write.put, userId: write.userId, item: write.item } } };
    }
  }

  async get(conversationId: string, seq: number): Promise<StoredMessage | undefined> {
    if (seq < 1) return undefined;
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.messagesTable, Key: { conversationId, seq }, ConsistentRead: true }));
    if (!Item) return undefined;
    return Array.isArray(Item.editSeqs) ? { ...toTimelineItem(Item), editSeqs: Item.editSeqs.map(Number) } : toTimelineItem(Item);
  }

  async itemsBySender(conversationId: string, senderId: string): Promise<StoredMessage[]> {
    const found: StoredMessage[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.messagesTable,
          KeyConditionExpression: 'conversationId = :c AND seq >= :first',
          FilterExpression: 'senderId = :s',
          ExpressionAttributeValues: { ':c': conversationId, ':first': 1, ':s': senderId },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        found.push(Array.isArray(item.editSeqs) ? { ...toTimelineItem(item), editSeqs: item.editSeqs.map(Number) } : toTimelineItem(item));
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return found;
  }

  async scrub(conversationId: string, seq: number, senderId: string, change: ItemScrub): Promise<boolean> {
    const sets: string[] = [];
    const removes: string[] = [];
    const names: Record<string, string> = { '#sender': 'senderId' };
    const values: Record<string, unknown> = { ':sender': senderId };
    for (const [index, [name, value]] of Object.entries(change.set ?? {}).entries()) {
      names[`#s${index}`] = name;
      values[`:s${index}`] = value;
      sets.push(`#s${index} = :s${index}`);
    }
    for (const [index, name] of (change.remove ?? []).entries()) {
      names[`#r${index}`] = name;
      removes.push(`#r${index}`);
    }
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.messagesTable,
          Key: { conversationId, seq },
          UpdateExpression: expression(sets, removes, [], []),
          // An item TTL already deleted is not recreated.
          ConditionExpression: 'attribute_exists(seq) AND #sender = :sender',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async setExpiry(conversationId: string, seq: number, expiresAt: number | undefined): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.messagesTable,
        Key: { conversationId, seq },
        UpdateExpression: expiresAt === undefined ? 'REMOVE expiresAt' : 'SET expiresAt = :e',
        // An item TTL already deleted is not recreated.
        ConditionExpression: 'attribute_exists(seq)',
        ...(expiresAt === undefined ? {} : { ExpressionAttributeValues: { ':e': expiresAt } }),
      }),
    );
  }

  async settleExpiry(conversationId: string, lastSeq: number, lastExpiresAt: number | undefined): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.messagesTable,
        Key: headKey(conversationId),
        UpdateExpression: lastExpiresAt === undefined ? 'REMOVE lastExpiresAt' : 'SET lastExpiresAt = :e',
        ConditionExpression: 'lastSeq = :seq',
        ExpressionAttributeValues: { ':seq': lastSeq, ...(lastExpiresAt === undefined ? {} : { ':e': lastExpiresAt }) },
      }),
    );
  }

  /** Sends a conditional update: false when its condition failed. */
  private async conditionally(command: UpdateCommand): Promise<boolean> {
    try {
      await this.ddb.send(command);
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async countUnread(conversationId: string, afterSeq: number, throughSeq: number, excludeSenderId: string, cap: number): Promise<number> {
    if (throughSeq <= afterSeq) return 0;
    const { Count } = await this.ddb.send(
      new QueryCommand({
        TableName: this.messagesTable,
        KeyConditionExpression: 'conversationId = :c AND seq BETWEEN :from AND :through',
        FilterExpression: 'senderId <> :me AND (attribute_not_exists(kind) OR kind = :message) AND attribute_not_exists(deleted)',
        ExpressionAttributeValues: {
          ':c': conversationId,
          ':from': Math.max(1, afterSeq + 1),
          ':through': throughSeq,
          ':me': excludeSenderId,
          ':message': 'message',
        },
        // Newest first, so a capped count still covers what the user saw last.
        ScanIndexForward: false,
        Select: 'COUNT',
        Limit: cap,
      }),
    );
    return Count ?? 0;
  }

  async idempotent(key: string): Promise<{ seq: number; createdAt: string } | undefined> {
    const item = await this.readIdempotency(key);
    return item?.seq !== undefined ? { seq: Number(item.seq), createdAt: String(item.createdAt) } : undefined;
  }

  private async readIdempotency(key: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.idempotencyTable, Key: { idempotencyKey: key }, ConsistentRead: true }));
    return Item;
  }

  async before(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<TimelineItem[]> {
    if (beforeSeq !== undefined && beforeSeq <= 1) return [];
    const { Items } = await this.ddb.send(
      new QueryCommand({
        TableName: this.messagesTable,
        // Seq 0 is the head item, not a message.
        KeyConditionExpression: 'conversationId = :c AND seq BETWEEN :first AND :last',
        ExpressionAttributeValues: { ':c': conversationId, ':first': 1, ':last': (beforeSeq ?? Number.MAX_SAFE_INTEGER) - 1 },
        ScanIndexForward: false,
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map(toTimelineItem);
  }

  async after(conversationId: string, afterSeq: number, limit: number): Promise<TimelineItem[]> {
    const { Items } = await this.ddb.send(
      new QueryCommand({
        TableName: this.messagesTable,
        KeyConditionExpression: 'conversationId = :c AND seq > :after',
        ExpressionAttributeValues: { ':c': conversationId, ':after': afterSeq },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map(toTimelineItem);
  }
}

/** The head's update: the new lastSeq, and the retention state the append carries. */
function headUpdate(membershipChange: boolean, request: TimelineAppend): string {
  const sets = ['lastSeq = :seq', 'lastMessageAt = :at', 'epoch = if_not_exists(epoch, :epoch)'];
  if (membershipChange) sets.push('membershipSeq = :seq');
  if (request.expiresAt !== undefined) sets.push('lastExpiresAt = :expires');
  if (typeof request.retentionDays === 'number') sets.push('retentionDays = :retention');
  return `SET ${sets.join(', ')}${request.retentionDays === null ? ' REMOVE retentionDays' : ''}`;
}

const expression = (sets: string[], removes: string[], adds: string[], deletes: string[]) =>
  [
    sets.length ? `SET ${sets.join(', ')}` : '',
    removes.length ? `REMOVE ${removes.join(', ')}` : '',
    adds.length ? `ADD ${adds.join(', ')}` : '',
    deletes.length ? `DELETE ${deletes.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');

const stripUndefined = (item: Record<string, unknown>) => Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined));

/** An idempotency item as a claim: one written by a timeline transaction records its seq (and no claimedAt). */
function toClaim(item: Record<string, unknown>): SendClaim {
  return {
    claimedAt: Number(item.claimedAt ?? 0),
    afterSeq: Number(item.afterSeq ?? 0),
    ...(typeof item.owner === 'string' ? { owner: item.owner } : {}),
    ...(item.seq === undefined ? {} : { seq: Number(item.seq) }),
    ...(item.createdAt === undefined ? {} : { createdAt: String(item.createdAt) }),
  };
}
