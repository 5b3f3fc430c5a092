import type { Conversation, Message } from './protocol.js';
import type { ParleyClientEvents } from './types.js';

/** Chat messages per conversation whose state the client keeps to apply edits, deletes and reactions. */
const rememberedMessages = 1000;

/** What the timeline needs from the rest of the client. */
export interface TimelineHooks {
  /** The signed-in user. */
  me(): string | undefined;
  /** A known conversation. */
  conversation(conversationId: string): Conversation | undefined;
  /** Stores a conversation changed by a membership, role or title event. */
  upsertConversation(conversation: Conversation): void;
  /** Emits the timeline's events. */
  emit<K extends 'message' | 'timelineEvent' | 'messageUpdated' | 'membership' | 'removed'>(event: K, payload: ParleyClientEvents[K]): void;
}

/**
 * Turns delivered timeline items into the SDK's events: chat messages as `message`, and every other kind applied to
 * the message or conversation it changes (`messageUpdated`, `membership`, `removed`, `timelineEvent`).
 */
export class Timeline {
  private readonly emitted = new Map<string, Map<number, Message>>();
  private readonly myReactions = new Map<string, Set<string>>();

  constructor(private readonly hooks: TimelineHooks) {}

  /** Emits items delivered in seq order; returns whether any came from another user (worth a delivered receipt). */
  deliver(messages: Message[]): boolean {
    let fromOthers = false;
    for (const message of messages) {
      // A seq whose sender died before storing it: the stream counted it as seen, there is nothing to show.
      if (message.kind === 'skipped') continue;
      if (message.senderId !== this.hooks.me()) fromOthers = true;
      if ((message.kind ?? 'message') === 'message') {
        this.remember(message);
        this.hooks.emit('message', message);
      } else {
        this.applyEvent(message);
      }
    }
    return fromOthers;
  }

  /** Keeps the current state of recently emitted chat messages, so edits, deletes and reactions can be applied. */
  private remember(message: Message): void {
    const known = this.emitted.get(message.conversationId) ?? new Map<number, Message>();
    known.set(message.seq, { ...message });
    if (known.size > rememberedMessages) known.delete(known.keys().next().value as number);
    this.emitted.set(message.conversationId, known);
  }

  /** Applies a timeline event (delivered in seq order, once) and emits the typed events for it. */
  private applyEvent(event: Message): void {
    this.hooks.emit('timelineEvent', event);
    if (event.kind === 'edit' || event.kind === 'delete' || event.kind === 'reaction') this.applyMessageEvent(event);
    else this.applyConversationEvent(event);
  }

  private applyMessageEvent(event: Message): void {
    const id = event.conversationId;
    const me = this.hooks.me();
    const target = this.emitted.get(id)?.get(event.targetSeq ?? -1);
    // A message read by sync or history already includes the events up to its stateSeq: applying them again would
    // count a reaction twice.
    if (target?.stateSeq !== undefined && event.seq <= target.stateSeq) return;
    const current: Message = target
      ? { ...target }
      : { conversationId: id, seq: event.targetSeq ?? 0, senderId: '', clientMessageId: '', body: '', createdAt: '', kind: 'message' };
    current.stateSeq = event.seq;
    if (event.kind === 'edit') Object.assign(current, { body: event.body, editedAt: event.createdAt });
    if (event.kind === 'delete') Object.assign(current, { body: '', deleted: true, reactions: [] });
    const key = `${id}#${current.seq}`;
    if (event.kind === 'reaction' && event.emoji) {
      const reactions = (current.reactions ?? []).map((reaction) => ({ ...reaction }));
      const found = reactions.find((reaction) => reaction.emoji === event.emoji);
      if (event.op === 'remove') {
        if (found) found.count -= 1;
      } else if (found) found.count += 1;
      else reactions.push({ emoji: event.emoji, count: 1 });
      current.reactions = reactions.filter((reaction) => reaction.count > 0);
      const mine = this.myReactions.get(key) ?? new Set<string>();
      if (event.senderId === me) {
        if (event.op === 'remove') mine.delete(event.emoji);
        else mine.add(event.emoji);
        this.myReactions.set(key, mine);
      }
    }
    if (target) this.remember(current);
    this.hooks.emit('messageUpdated', { message: current, complete: target !== undefined, mine: [...(this.myReactions.get(key) ?? [])] });
  }

  private applyConversationEvent(event: Message): void {
    const id = event.conversationId;
    const conversation = this.hooks.conversation(id);
    if (conversation) {
      const next: Conversation = { ...conversation, members: [...conversation.members], roles: { ...(conversation.roles ?? {}) } };
      const roles = next.roles!;
      const userIds = event.userIds ?? [];
      if (event.kind === 'member_added') {
        next.members = [...new Set([...next.members, ...userIds])].sort();
        for (const userId of userIds) roles[userId] = 'member';
      } else if (event.kind === 'member_removed' || event.kind === 'member_left') {
        next.members = next.members.filter((userId) => !userIds.includes(userId));
        for (const userId of userIds) delete roles[userId];
      } else if (event.kind === 'role_changed' && event.role) {
        for (const userId of userIds) roles[userId] = event.role;
      } else if (event.kind === 'title_changed' && event.title !== undefined) {
        next.title = event.title;
      }
      this.hooks.upsertConversation(next);
    }
    if (event.kind !== 'title_changed') {
      const after = this.hooks.conversation(id);
      this.hooks.emit('membership', { conversationId: id, event, members: after?.members ?? [], roles: after?.roles ?? {} });
    }
    const me = this.hooks.me();
    if ((event.kind === 'member_removed' || event.kind === 'member_left') && me && event.userIds?.includes(me)) {
      this.hooks.emit('removed', { conversationId: id, by: event.senderId, seq: event.seq, left: event.kind === 'member_left' });
    }
  }
}
