import type {
  Conversation,
  ConnectionStatus,
  Message,
  ParleyClient,
  PresenceInfo,
} from '../../client/index.js';

/** Delivery mark of one of your own messages. */
export type MessageMark = 'pending' | 'sent' | 'delivered' | 'read';

/** A message as the view shows it. */
export interface MessageRow {
  /** Stable key: `seq:<n>` once stored, `pending:<clientMessageId>` before. */
  key: string;
  seq: number | null;
  senderId: string;
  body: string;
  createdAt: string | null;
  mine: boolean;
  /** Only for your own messages. */
  mark: MessageMark | null;
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
  messages: Map<number, Message>;
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
      view.messages.set(m.seq, m);
      if (m.createdAt > view.lastActivity) view.lastActivity = m.createdAt;
      if (m.conversationId === this.openId) this.markOpenRead();
      // Someone whose presence was hidden (a DM they had not answered yet) may show it now that they wrote.
      if (m.senderId !== this.me && (client.presenceOf(m.senderId)?.status ?? 'unknown') === 'unknown') {
        client.fetchPresence([m.senderId]).catch(() => undefined);
      }
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
      this.notify();
    });
  }

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
        const last = lastOf(view.messages);
        const peerId = c.kind === 'direct' ? c.members.find((m) => m !== this.me) ?? this.me : null;
        return {
          conversationId: c.conversationId,
          kind: c.kind,
          title: titleOf(c, this.me),
          members: c.members,
          unread: this.unread(c),
          preview: last ? `${last.senderId === this.me ? 'You: ' : c.kind === 'group' ? `${last.senderId}: ` : ''}${last.body}` : '',
          lastActivity: view.lastActivity || c.createdAt || '',
          peer: peerId ? this.client.presenceOf(peerId) ?? { userId: peerId, status: 'unknown', lastSeenAt: null } : null,
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
        if (oldest === 1) {
          view.reachedStart = true;
          return;
        }
        const page = await this.client.history(conversationId, {
          limit: pageSize,
          ...(oldest !== undefined ? { beforeSeq: oldest } : {}),
        });
        for (const m of page.messages) view.messages.set(m.seq, m);
        const last = page.messages.at(-1);
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

  /** Messages of a conversation in seq order, followed by your unacked ones. */
  messages(conversationId: string): MessageRow[] {
    const conversation = this.client.conversation(conversationId);
    const others = (conversation?.members ?? []).filter((m) => m !== this.me);
    const receipts = this.client.receiptsOf(conversationId).filter((r) => others.includes(r.userId));
    const everyone = (pick: (r: { lastDeliveredSeq: number; lastReadSeq: number }) => number) =>
      others.length === 0
        ? Infinity
        : Math.min(...others.map((u) => pick(receipts.find((r) => r.userId === u) ?? { lastDeliveredSeq: 0, lastReadSeq: 0 })));
    const readBy = everyone((r) => r.lastReadSeq);
    const deliveredTo = everyone((r) => Math.max(r.lastDeliveredSeq, r.lastReadSeq));
    const view = this.view(conversationId);
    const stored = [...view.messages.values()].sort((a, b) => a.seq - b.seq);
    const storedIds = new Set(stored.filter((m) => m.senderId === this.me).map((m) => m.clientMessageId));
    const rows: MessageRow[] = stored.map((m) => {
      const mine = m.senderId === this.me;
      return {
        key: `seq:${m.seq}`,
        seq: m.seq,
        senderId: m.senderId,
        body: m.body,
        createdAt: m.createdAt,
        mine,
        mark: !mine ? null : readBy >= m.seq ? 'read' : deliveredTo >= m.seq ? 'delivered' : 'sent',
      };
    });
    for (const p of this.client.pendingMessages(conversationId)) {
      if (storedIds.has(p.clientMessageId)) continue;
      rows.push({
        key: `pending:${p.clientMessageId}`,
        seq: null,
        senderId: this.me,
        body: p.body,
        createdAt: null,
        mine: true,
        mark: 'pending',
      });
    }
    return rows;
  }

  /** Sends a message to the open conversation (queued while offline). */
  send(body: string): void {
    const text = body.trim();
    if (!this.openId || !text) return;
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
      if (!m || m.senderId !== this.me) count++;
    }
    return count;
  }

  private markOpenRead(): void {
    const id = this.openId;
    if (!id || !this.visible) return;
    const last = this.client.conversation(id)?.lastSeq ?? 0;
    const top = Math.max(last, lastOf(this.view(id).messages)?.seq ?? 0);
    if (top > 0) this.client.markRead(id, top).then(() => this.notify(), () => undefined);
  }

  private view(conversationId: string): ConversationView {
    let view = this.views.get(conversationId);
    if (!view) {
      view = { messages: new Map(), reachedStart: false, expired: false, loadingOlder: null, lastActivity: '' };
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
