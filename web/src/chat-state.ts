import type {
  Conversation,
  ConnectionStatus,
  EventAck,
  GroupAddSetting,
  Invitation,
  Message,
  ParleyClient,
  PresenceInfo,
  Role,
  UserSettings,
} from '../../client/index.js';

/** The fixed set of reactions the chat offers. */
export const reactionEmoji = ['👍', '❤️', '😂', '😮', '😢', '🎉'] as const;

/** Delivery mark of one of your own messages. */
export type MessageMark = 'pending' | 'sent' | 'delivered' | 'read';

/** One aggregated reaction on a message as the view shows it. */
export interface ReactionRow {
  emoji: string;
  count: number;
  /** You reacted with this emoji. */
  mine: boolean;
}

/** A message as the view shows it: its current state, with every edit, delete and reaction applied. */
export interface MessageRow {
  type: 'message';
  /** Stable key: `seq:<n>` once stored, `pending:<clientMessageId>` before. */
  key: string;
  seq: number | null;
  senderId: string;
  body: string;
  createdAt: string | null;
  mine: boolean;
  /** Only for your own messages. */
  mark: MessageMark | null;
  edited: boolean;
  /** A tombstone: the body is gone. */
  deleted: boolean;
  reactions: ReactionRow[];
  /** What you may do with it (your role in the group counts for deleting others' messages). */
  canEdit: boolean;
  canDelete: boolean;
  canReact: boolean;
}

/** A membership, role or title event shown inline in the timeline ("alice added bob"). */
export interface EventRow {
  type: 'event';
  key: string;
  seq: number;
  kind: NonNullable<Message['kind']>;
  text: string;
  createdAt: string;
}

/** A row of the message list. */
export type TimelineRow = MessageRow | EventRow;

/** A group member as the info panel shows it, with what you may do to them. */
export interface MemberRow {
  userId: string;
  role: Role | null;
  me: boolean;
  presence: PresenceInfo;
  canRemove: boolean;
  /** Roles you may give them (owners only). */
  assignable: Role[];
}

/** How you left a conversation: removed by someone, or by leaving. */
export interface Removal {
  by: string;
  left: boolean;
  seq: number | null;
}

/** A conversation row of the list. */
export interface ConversationRow {
  conversationId: string;
  kind: Conversation['kind'];
  title: string;
  members: string[];
  unread: number;
  preview: string;
  lastActivity: string;
  /** For 1:1: the other member's presence. */
  peer: PresenceInfo | null;
}

interface ConversationView {
  /** Every timeline item seen (chat messages and events), by seq. */
  messages: Map<number, Message>;
  /**
   * Per chat message: the seq up to which its stored state already includes edits, deletes and reactions
   * (`history` and `sync` return messages as they are now, so replaying those events again would count twice).
   */
  asOf: Map<number, number>;
  /** Edit, delete and reaction events by the seq they target, in seq order. */
  updates: Map<number, Message[]>;
  reachedStart: boolean;
  /** Older messages expired (the conversation's retention): nothing before the shown ones can be loaded. */
  expired: boolean;
  loadingOlder: Promise<void> | null;
  lastActivity: string;
}

const pageSize = 30;

/**
 * The chat page's state on top of `ParleyClient`: merges live deliveries, history pages and the outbox per
 * conversation, and derives unread counts and sent/delivered/read marks. DOM-free, so it is unit-testable.
 */
export class ChatState {
  private readonly views = new Map<string, ConversationView>();
  private readonly listeners = new Set<() => void>();
  private openId: string | null = null;
  private visible = true;
  private notifyScheduled = false;

  constructor(
    readonly client: ParleyClient,
    private readonly signedInAs: string,
  ) {
    client.on('message', (m) => {
      const view = this.view(m.conversationId);
      // Emitted in seq order: whatever came in the same batch (up to the cursor) was read with it.
      this.store(view, m, client.cursor(m.conversationId));
      if (m.createdAt > view.lastActivity) view.lastActivity = m.createdAt;
      if (m.conversationId === this.openId) this.markOpenRead();
      // Someone whose presence was hidden (a DM they had not answered yet) may show it now that they wrote.
      if (m.senderId !== this.me && (client.presenceOf(m.senderId)?.status ?? 'unknown') === 'unknown') {
        client.fetchPresence([m.senderId]).catch(() => undefined);
      }
      this.notify();
    });
    client.on('timelineEvent', (e) => {
      const view = this.view(e.conversationId);
      this.store(view, e, e.seq);
      if (isShown(e) && e.createdAt > view.lastActivity) view.lastActivity = e.createdAt;
      if (e.conversationId === this.openId) this.markOpenRead();
      this.notify();
    });
    client.on('conversation', (c) => {
      // A new conversation may bring people whose presence we have never seen.
      const unknown = c.members.filter((m) => m !== this.me && !client.presenceOf(m));
      if (unknown.length > 0) client.fetchPresence(unknown.slice(0, 100)).catch(() => undefined);
    });
    for (const type of ['conversation', 'receipt', 'presence', 'typing', 'ack', 'sendFailed', 'status'] as const) {
      client.on(type, () => this.notify());
    }
    // A recreated conversation (another epoch): what we showed belongs to its old timeline.
    client.on('reset', ({ conversationId }) => {
      const view = this.view(conversationId);
      view.messages.clear();
      view.asOf.clear();
      view.updates.clear();
      view.reachedStart = false;
      view.expired = false;
      this.notify();
    });
    client.on('expired', ({ conversationId }) => {
      const view = this.view(conversationId);
      view.expired = true;
      view.reachedStart = true;
      this.notify();
    });
    client.on('synced', () => {
      this.markOpenRead();
      // Invitations are not pushed: look again whenever we (re)connect.
      this.loadInvitations().catch(() => undefined);
      this.notify();
    });
  }

  /** Your settings and block list, once loaded. */
  settings: UserSettings | null = null;
  /** Invitations waiting for your answer, as last loaded. */
  invitations: Invitation[] = [];

  /** Your user id: as the server resolved it (from the token endpoint) once known. */
  get me(): string {
    return this.client.userId ?? this.signedInAs;
  }

  /** Calls `listener` (batched per microtask) whenever anything visible changed. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Loads the conversation list (all pages). */
  async loadConversations(): Promise<void> {
    let cursor: string | null = null;
    do {
      const page = await this.client.listConversations({ limit: 100, cursor });
      for (const summary of page.conversations) {
        const view = this.view(summary.conversationId);
        if (summary.lastMessageAt && summary.lastMessageAt > view.lastActivity) view.lastActivity = summary.lastMessageAt;
      }
      cursor = page.nextCursor;
    } while (cursor);
    const peers = new Set<string>();
    for (const c of this.client.knownConversations()) for (const m of c.members) if (m !== this.me) peers.add(m);
    if (peers.size > 0) await this.client.fetchPresence([...peers].slice(0, 100)).catch(() => undefined);
    this.notify();
  }

  /** Conversations, most recently active first. */
  conversations(): ConversationRow[] {
    return this.client
      .knownConversations()
      .map((c) => {
        const view = this.view(c.conversationId);
        const shown = lastShown(view.messages);
        const last = shown && isChat(shown) ? this.current(view, shown).message : shown;
        const peerId = c.kind === 'direct' ? (c.members.find((m) => m !== this.me) ?? this.me) : null;
        return {
          conversationId: c.conversationId,
          kind: c.kind,
          title: titleOf(c, this.me),
          members: c.members,
          unread: this.unread(c),
          preview: !last
            ? ''
            : !isChat(last)
              ? eventText(last)
              : `${last.senderId === this.me ? 'You: ' : c.kind === 'group' ? `${last.senderId}: ` : ''}${last.deleted ? 'message deleted' : last.body}`,
          lastActivity: view.lastActivity || c.createdAt || '',
          peer: peerId ? (this.client.presenceOf(peerId) ?? { userId: peerId, status: 'unknown', lastSeenAt: null }) : null,
        };
      })
      .sort((a, b) => (a.lastActivity < b.lastActivity ? 1 : a.lastActivity > b.lastActivity ? -1 : 0));
  }

  /** The open conversation's id, if any. */
  get openConversationId(): string | null {
    return this.openId;
  }

  /** Opens a conversation: loads its newest page if needed and marks it read. */
  async open(conversationId: string | null): Promise<void> {
    this.openId = conversationId;
    this.notify();
    if (!conversationId) return;
    const view = this.view(conversationId);
    if (view.messages.size < pageSize && !view.reachedStart) await this.loadOlder(conversationId);
    this.markOpenRead();
  }

  /** Tells the state whether the page is visible (read receipts are only sent for what you can see). */
  setVisible(visible: boolean): void {
    this.visible = visible;
    if (visible) this.markOpenRead();
  }

  /** Loads the page of messages before the oldest one shown (infinite scroll). */
  loadOlder(conversationId: string): Promise<void> {
    const view = this.view(conversationId);
    if (view.reachedStart) return Promise.resolve();
    view.loadingOlder ??= (async () => {
      try {
        const oldest = view.messages.size > 0 ? Math.min(...view.messages.keys()) : undefined;
        // Everything seen before asking was stored before the server read the page.
        const seenBefore = Math.max(0, this.client.cursor(conversationId), ...view.messages.keys());
        if (oldest === 1) {
          view.reachedStart = true;
          return;
        }
        const page = await this.client.history(conversationId, {
          limit: pageSize,
          ...(oldest !== undefined ? { beforeSeq: oldest } : {}),
        });
        const pageTop = Math.max(seenBefore, ...page.messages.map((m) => m.seq));
        for (const m of page.messages) this.store(view, m, pageTop);
        const last = page.messages.filter(isShown).at(-1);
        if (last && last.createdAt > view.lastActivity) view.lastActivity = last.createdAt;
        if (page.nextBeforeSeq === null || page.messages.length === 0) view.reachedStart = true;
      } finally {
        view.loadingOlder = null;
        this.notify();
      }
    })();
    return view.loadingOlder;
  }

  /** Whether older messages of a conversation expired (its retention). */
  expired(conversationId: string): boolean {
    return this.view(conversationId).expired;
  }

  /** Whether the oldest message of a conversation is loaded. */
  reachedStart(conversationId: string): boolean {
    return this.view(conversationId).reachedStart;
  }

  /** Chat messages of a conversation in seq order, followed by your unacked ones. */
  messages(conversationId: string): MessageRow[] {
    return this.timeline(conversationId).filter((row): row is MessageRow => row.type === 'message');
  }

  /**
   * The message list: chat messages in their current state and membership, role and title events, in seq order,
   * followed by your unacked messages. Edit, delete and reaction events are applied, not shown.
   */
  timeline(conversationId: string): TimelineRow[] {
    const conversation = this.client.conversation(conversationId);
    const others = (conversation?.members ?? []).filter((m) => m !== this.me);
    const receipts = this.client.receiptsOf(conversationId).filter((r) => others.includes(r.userId));
    const everyone = (pick: (r: { lastDeliveredSeq: number; lastReadSeq: number }) => number) =>
      others.length === 0 ? Infinity : Math.min(...others.map((u) => pick(receipts.find((r) => r.userId === u) ?? { lastDeliveredSeq: 0, lastReadSeq: 0 })));
    const readBy = everyone((r) => r.lastReadSeq);
    const deliveredTo = everyone((r) => Math.max(r.lastDeliveredSeq, r.lastReadSeq));
    const view = this.view(conversationId);
    const member = conversation ? isMember(conversation, this.me) : false;
    const moderator = member && conversation?.kind === 'group' && isModerator(roleOf(conversation, this.me));
    const stored = [...view.messages.values()].filter(isShown).sort((a, b) => a.seq - b.seq);
    const storedIds = new Set(stored.filter((m) => m.senderId === this.me && isChat(m)).map((m) => m.clientMessageId));
    const rows: TimelineRow[] = stored.map((item): TimelineRow => {
      if (!isChat(item)) {
        return { type: 'event', key: `seq:${item.seq}`, seq: item.seq, kind: item.kind!, text: eventText(item), createdAt: item.createdAt };
      }
      const { message: m, mine: myReactions } = this.current(view, item);
      const mine = m.senderId === this.me;
      const deleted = m.deleted === true;
      return {
        type: 'message',
        key: `seq:${m.seq}`,
        seq: m.seq,
        senderId: m.senderId,
        body: m.body,
        createdAt: m.createdAt,
        mine,
        mark: !mine ? null : readBy >= m.seq ? 'read' : deliveredTo >= m.seq ? 'delivered' : 'sent',
        edited: !deleted && m.editedAt !== undefined,
        deleted,
        reactions: deleted ? [] : (m.reactions ?? []).map((r) => ({ emoji: r.emoji, count: r.count, mine: myReactions.has(r.emoji) })),
        canEdit: member && mine && !deleted,
        canDelete: member && !deleted && (mine || moderator),
        canReact: member && !deleted,
      };
    });
    for (const p of this.client.pendingMessages(conversationId)) {
      if (storedIds.has(p.clientMessageId)) continue;
      rows.push({
        type: 'message',
        key: `pending:${p.clientMessageId}`,
        seq: null,
        senderId: this.me,
        body: p.body,
        createdAt: null,
        mine: true,
        mark: 'pending',
        edited: false,
        deleted: false,
        reactions: [],
        canEdit: false,
        canDelete: false,
        canReact: false,
      });
    }
    return rows;
  }

  /** A group's members with their roles, presence and what you may do to each (owners first). */
  members(conversationId: string): MemberRow[] {
    const conversation = this.client.conversation(conversationId);
    if (!conversation) return [];
    const myRole = roleOf(conversation, this.me);
    const rank: Record<Role, number> = { owner: 0, admin: 1, member: 2 };
    return conversation.members
      .map((userId): MemberRow => {
        const role = roleOf(conversation, userId);
        const me = userId === this.me;
        return {
          userId,
          role,
          me,
          presence: me
            ? { userId, status: this.status.state === 'online' ? 'online' : 'offline', lastSeenAt: null }
            : (this.client.presenceOf(userId) ?? { userId, status: 'unknown', lastSeenAt: null }),
          canRemove: conversation.kind === 'group' && !me && canRemove(myRole, role),
          assignable: conversation.kind === 'group' && myRole === 'owner' && !me ? (['owner', 'admin', 'member'] as const).filter((r) => r !== role) : [],
        };
      })
      .sort((a, b) => rank[a.role ?? 'member'] - rank[b.role ?? 'member'] || (a.userId < b.userId ? -1 : 1));
  }

  /** Your role in a conversation (`null` in a DM or when you are not a member). */
  myRole(conversationId: string): Role | null {
    const conversation = this.client.conversation(conversationId);
    return conversation ? roleOf(conversation, this.me) : null;
  }

  /** Whether you may add members to and rename a group (owners and admins). */
  canManage(conversationId: string): boolean {
    const conversation = this.client.conversation(conversationId);
    return conversation?.kind === 'group' && isModerator(roleOf(conversation, this.me));
  }

  /** How you left a group you are no longer a member of, or `null` while you are one. */
  removal(conversationId: string): Removal | null {
    const conversation = this.client.conversation(conversationId);
    if (conversation?.kind !== 'group' || conversation.members.includes(this.me)) return null;
    const view = this.view(conversationId);
    const event = [...view.messages.values()]
      .filter((m) => (m.kind === 'member_removed' || m.kind === 'member_left') && m.userIds?.includes(this.me))
      .sort((a, b) => b.seq - a.seq)[0];
    return event ? { by: event.senderId, left: event.kind === 'member_left', seq: event.seq } : { by: '', left: false, seq: null };
  }

  /** Edits one of your messages. */
  async edit(conversationId: string, seq: number, body: string): Promise<void> {
    const text = body.trim();
    if (!text) throw new Error('A message cannot be empty; delete it instead.');
    this.applyAck(await this.client.edit(conversationId, seq, text), { kind: 'edit', targetSeq: seq, body: text });
  }

  /** Deletes a message (yours, or anyone's as a group owner or admin). */
  async deleteMessage(conversationId: string, seq: number): Promise<void> {
    this.applyAck(await this.client.deleteMessage(conversationId, seq), { kind: 'delete', targetSeq: seq });
  }

  /** Adds your reaction with `emoji`, or removes it when you have reacted with it. */
  async toggleReaction(conversationId: string, seq: number, emoji: string): Promise<void> {
    const row = this.messages(conversationId).find((m) => m.seq === seq);
    const had = row?.reactions.some((r) => r.emoji === emoji && r.mine) ?? false;
    const op = async (remove: boolean) => {
      const ack = remove ? await this.client.unreact(conversationId, seq, emoji) : await this.client.react(conversationId, seq, emoji);
      this.applyAck(ack, { kind: 'reaction', targetSeq: seq, emoji, op: remove ? 'remove' : 'add' });
      return ack;
    };
    // What we know of our own reactions may be incomplete (reacted on another device): if the server says nothing
    // changed, the reaction was already in the state we asked for, so the toggle means the other way.
    const ack = await op(had);
    if (ack.unchanged) await op(!had);
  }

  /** Adds users to a group; resolves with those who were invited instead (their consent is needed). */
  async addMembers(conversationId: string, members: string[]): Promise<string[]> {
    const { invited } = await this.client.addMembersWithInvites(conversationId, members);
    this.notify();
    return invited;
  }

  /** Creates a group; `invited` lists who must accept an invitation first. */
  async createGroup(title: string, members: string[]): Promise<{ conversation: Conversation; invited: string[] }> {
    const conversation = await this.client.createGroup(title, members);
    // The SDK returns the group only; whoever asked for but not in it was invited (or, indistinguishably, blocked us).
    return { conversation, invited: members.filter((m) => !conversation.members.includes(m)) };
  }

  /** Loads your settings and block list. */
  async loadSettings(): Promise<UserSettings> {
    return this.keepSettings(await this.client.settings());
  }

  /** Blocks a user. */
  async block(userId: string): Promise<void> {
    this.keepSettings(await this.client.block(userId));
  }

  /** Lifts a block. */
  async unblock(userId: string): Promise<void> {
    this.keepSettings(await this.client.unblock(userId));
  }

  /** Whether you blocked `userId` (as far as the loaded settings say). */
  isBlocked(userId: string): boolean {
    return this.settings?.blocked.includes(userId) ?? false;
  }

  /** Changes who may add you to groups without an invitation. */
  async setGroupAdd(groupAdd: GroupAddSetting): Promise<void> {
    this.keepSettings(await this.client.updateSettings({ groupAdd }));
  }

  /** Loads the invitations waiting for your answer. */
  async loadInvitations(): Promise<Invitation[]> {
    this.invitations = await this.client.invitations();
    this.notify();
    return this.invitations;
  }

  /** Accepts an invitation; resolves with the group you joined. */
  async acceptInvitation(conversationId: string): Promise<Conversation> {
    const conversation = await this.client.acceptInvitation(conversationId);
    this.invitations = this.invitations.filter((i) => i.conversationId !== conversationId);
    this.notify();
    return conversation;
  }

  /** Declines an invitation. */
  async declineInvitation(conversationId: string): Promise<void> {
    await this.client.declineInvitation(conversationId);
    this.invitations = this.invitations.filter((i) => i.conversationId !== conversationId);
    this.notify();
  }

  /** Sends a message to the open conversation (queued while offline). */
  send(body: string): void {
    const text = body.trim();
    if (!this.openId || !text || this.removal(this.openId)) return;
    const out = this.client.send(this.openId, text);
    this.client.setTyping(this.openId, false);
    this.notify();
    out.acked.then(
      () => this.markOpenRead(),
      () => this.notify(),
    );
  }

  /** Who is typing in a conversation, as a sentence, or ''. */
  typingText(conversationId: string): string {
    const users = this.client.typingIn(conversationId).filter((u) => u !== this.me);
    if (users.length === 0) return '';
    if (users.length === 1) return `${users[0]} is typing…`;
    return `${users.slice(0, -1).join(', ')} and ${users.at(-1)} are typing…`;
  }

  /** The connection status for the banner. */
  get status(): ConnectionStatus {
    return this.client.status;
  }

  /** Unread messages from others in a conversation. */
  unread(conversation: Conversation): number {
    const mine = this.client.receiptsOf(conversation.conversationId).find((r) => r.userId === this.me);
    const read = mine?.lastReadSeq ?? 0;
    // Beyond this many, exactness about your own messages no longer matters to the badge.
    if (conversation.lastSeq - read > 999) return conversation.lastSeq - read;
    let count = 0;
    const view = this.view(conversation.conversationId);
    for (let seq = read + 1; seq <= conversation.lastSeq; seq++) {
      const m = view.messages.get(seq);
      // Unknown seqs count; loaded ones only when they are someone else's chat message.
      if (!m || (isChat(m) && m.senderId !== this.me)) count++;
    }
    return count;
  }

  /** Records a timeline item; `asOfHint` is the highest seq read together with it (see `ConversationView.asOf`). */
  private store(view: ConversationView, item: Message, asOfHint: number): void {
    view.messages.set(item.seq, item);
    if (isChat(item)) {
      // A message without edits, deletion or reactions includes no event, so every later one still applies.
      const hasState = item.editedAt !== undefined || item.deleted === true || (item.reactions?.length ?? 0) > 0;
      view.asOf.set(item.seq, hasState ? Math.max(item.seq, asOfHint) : item.seq);
    } else if (item.targetSeq !== undefined && (item.kind === 'edit' || item.kind === 'delete' || item.kind === 'reaction')) {
      const list = (view.updates.get(item.targetSeq) ?? []).filter((u) => u.seq !== item.seq);
      list.push(item);
      list.sort((a, b) => a.seq - b.seq);
      view.updates.set(item.targetSeq, list);
    }
  }

  /** A message's current state: its stored state plus the events after it, and the emoji you reacted with. */
  private current(view: ConversationView, stored: Message): { message: Message; mine: Set<string> } {
    const message: Message = { ...stored, reactions: (stored.reactions ?? []).map((r) => ({ ...r })) };
    const asOf = view.asOf.get(stored.seq) ?? stored.seq;
    const mine = new Set<string>();
    for (const event of view.updates.get(stored.seq) ?? []) {
      if (event.kind === 'reaction' && event.emoji && event.senderId === this.me) {
        if (event.op === 'remove') mine.delete(event.emoji);
        else mine.add(event.emoji);
      }
      if (event.seq <= asOf) continue;
      if (event.kind === 'edit') Object.assign(message, { body: event.body, editedAt: event.createdAt });
      else if (event.kind === 'delete') Object.assign(message, { body: '', deleted: true, reactions: [] });
      else if (event.kind === 'reaction' && event.emoji && !message.deleted) {
        const reactions = message.reactions!;
        const found = reactions.find((r) => r.emoji === event.emoji);
        if (event.op === 'remove') {
          if (found) found.count -= 1;
        } else if (found) found.count += 1;
        else reactions.push({ emoji: event.emoji, count: 1 });
        message.reactions = reactions.filter((r) => r.count > 0);
      }
    }
    return { message, mine };
  }

  /**
   * Shows your own edit, delete or reaction as soon as the server acked it; the SDK delivers the same event later
   * under the same seq, which replaces this one.
   */
  private applyAck(ack: EventAck, event: Pick<Message, 'kind' | 'targetSeq' | 'emoji' | 'op'> & { body?: string }): void {
    if (ack.seq === null) return;
    const view = this.view(ack.conversationId);
    if (!view.messages.has(ack.seq)) {
      this.store(
        view,
        {
          conversationId: ack.conversationId,
          seq: ack.seq,
          senderId: this.me,
          clientMessageId: ack.clientMessageId,
          createdAt: ack.createdAt,
          ...event,
          body: event.body ?? '',
        },
        ack.seq,
      );
    }
    this.notify();
  }

  private keepSettings(settings: UserSettings): UserSettings {
    this.settings = settings;
    this.notify();
    return settings;
  }

  private markOpenRead(): void {
    const id = this.openId;
    if (!id || !this.visible) return;
    const last = this.client.conversation(id)?.lastSeq ?? 0;
    const top = Math.max(last, lastOf(this.view(id).messages)?.seq ?? 0);
    if (top > 0)
      this.client.markRead(id, top).then(
        () => this.notify(),
        () => undefined,
      );
  }

  private view(conversationId: string): ConversationView {
    let view = this.views.get(conversationId);
    if (!view) {
      view = { messages: new Map(), asOf: new Map(), updates: new Map(), reachedStart: false, expired: false, loadingOlder: null, lastActivity: '' };
      this.views.set(conversationId, view);
    }
    return view;
  }

  private notify(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      for (const listener of this.listeners) listener();
    });
  }
}

/** Display title: the group's title, or the other member of a 1:1. */
export function titleOf(conversation: Conversation, me: string): string {
  if (conversation.kind === 'group') return conversation.title || conversation.members.join(', ');
  return conversation.members.find((m) => m !== me) ?? me;
}

function lastOf(messages: Map<number, Message>): Message | undefined {
  let last: Message | undefined;
  for (const m of messages.values()) if (!last || m.seq > last.seq) last = m;
  return last;
}

/** The latest item the list shows (a chat message or a membership event), for the preview. */
function lastShown(messages: Map<number, Message>): Message | undefined {
  let last: Message | undefined;
  for (const m of messages.values()) if (isShown(m) && (!last || m.seq > last.seq)) last = m;
  return last;
}

/** A chat message (items stored before timeline events existed have no `kind`). */
export function isChat(item: Message): boolean {
  return (item.kind ?? 'message') === 'message';
}

/** Items the message list shows: chat messages and membership, role and title events. */
function isShown(item: Message): boolean {
  return item.kind !== 'edit' && item.kind !== 'delete' && item.kind !== 'reaction';
}

/** A member's role; members of groups stored without roles count as members. `null` for non-members and DMs. */
export function roleOf(conversation: Conversation, userId: string): Role | null {
  if (conversation.kind !== 'group' || !conversation.members.includes(userId)) return null;
  return conversation.roles?.[userId] ?? 'member';
}

function isMember(conversation: Conversation, userId: string): boolean {
  return conversation.members.includes(userId);
}

function isModerator(role: Role | null): boolean {
  return role === 'owner' || role === 'admin';
}

/** PROTOCOL.md, Roles: owners remove anyone else, admins remove members only, members no one. */
export function canRemove(actor: Role | null, target: Role | null): boolean {
  if (actor === 'owner') return true;
  return actor === 'admin' && target === 'member';
}

/** The line a membership, role or title event shows in the timeline. */
export function eventText(event: Message): string {
  const users = (event.userIds ?? []).join(', ');
  switch (event.kind) {
    case 'member_added':
      return event.userIds?.length === 1 && event.userIds[0] === event.senderId ? `${users} joined` : `${event.senderId} added ${users}`;
    case 'member_removed':
      return `${event.senderId} removed ${users}`;
    case 'member_left':
      return `${users || event.senderId} left`;
    case 'role_changed':
      return `${users} is now ${event.role ?? 'member'}`;
    case 'title_changed':
      return `${event.senderId} changed the title to “${event.title ?? ''}”`;
    default:
      return event.kind ?? '';
  }
}
