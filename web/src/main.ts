import { ParleyClient, ParleyError, StorageCursorStore, type ConnectionStatus, type PresenceInfo } from '../../client/index.js';
import { ChatState, titleOf, type MessageRow } from './chat-state.js';
import { fetchDevToken, loadConfig, type WebConfig } from './dev-auth.js';
import { h, replaceChildren } from './dom.js';

const userKey = 'parley.user';
const typingIdleMs = 4_000;

const root = document.getElementById('app')!;

void boot();

async function boot(): Promise<void> {
  let config: WebConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    replaceChildren(root, h('main', { class: 'login' }, h('h1', {}, 'Parley'), h('p', { class: 'error' }, String(error))));
    return;
  }
  const user = localStorage.getItem(userKey);
  if (user) startChat(config, user);
  else showLogin(config);
}

function showLogin(config: WebConfig, error = ''): void {
  const input = h('input', {
    name: 'user',
    'data-testid': 'login-user',
    placeholder: 'Dev user, e.g. alice',
    autocomplete: 'username',
    autocapitalize: 'none',
    required: true,
    pattern: '[A-Za-z0-9_.\\-]{1,64}',
  });
  const form = h(
    'form',
    {
      class: 'login-form',
      onsubmit: (event) => {
        event.preventDefault();
        const user = input.value.trim();
        if (!user) return;
        localStorage.setItem(userKey, user);
        startChat(config, user);
      },
    },
    h('label', { for: 'user' }, 'Sign in as'),
    input,
    h('button', { type: 'submit', 'data-testid': 'login-submit' }, 'Sign in'),
  );
  input.id = 'user';
  replaceChildren(
    root,
    h('main', { class: 'login' }, h('h1', {}, 'Parley'), h('p', { class: 'muted' }, 'Local development sign-in'), form, error && h('p', { class: 'error' }, error)),
  );
  input.focus();
}

function startChat(config: WebConfig, user: string): void {
  const client = new ParleyClient({
    url: config.wsUrl,
    userId: user,
    token: () => fetchDevToken(user),
    // Per user and endpoint: another account's (or stack's) cursors mean nothing here.
    cursorStore: new StorageCursorStore(localStorage, `parley.cursors.${config.wsUrl}.${user}`),
  });
  const state = new ChatState(client, user);
  const ui = new ChatView(state, () => {
    client.close();
    localStorage.removeItem(userKey);
    location.hash = '';
    showLogin(config);
  });
  ui.mount();
  client.on('error', (error) => console.warn('[parley]', error));
  client.on('sendFailed', (failure) => ui.toast(`Not sent: ${failure.error.message}`));
  addEventListener('online', () => client.reconnectNow());
  document.addEventListener('visibilitychange', () => state.setVisible(document.visibilityState === 'visible'));
  state.setVisible(document.visibilityState === 'visible');
  void client.connect().then(() => state.loadConversations()).catch((error: unknown) => ui.toast(String(error)));
}

/** The signed-in chat screen. Built once; `render` updates the parts that change. */
class ChatView {
  private readonly banner = h('div', { class: 'banner', 'data-testid': 'connection-banner', role: 'status', hidden: true });
  private readonly list = h('ul', { class: 'conversation-list', 'data-testid': 'conversation-list' });
  private readonly title = h('h2', { class: 'conversation-title', 'data-testid': 'conversation-title' });
  private readonly subtitle = h('div', { class: 'conversation-subtitle', 'data-testid': 'conversation-subtitle' });
  private readonly messages = h('div', { class: 'messages', 'data-testid': 'messages', role: 'log', 'aria-live': 'polite' });
  private readonly typing = h('div', { class: 'typing', 'data-testid': 'typing-indicator', 'aria-live': 'polite' });
  private readonly input = h('textarea', {
    'data-testid': 'composer-input',
    rows: 1,
    placeholder: 'Message',
    maxlength: 8000,
    'aria-label': 'Message',
  });
  private readonly layout = h('div', { class: 'layout' });
  private readonly newChat = h('form', { class: 'new-chat', 'data-testid': 'new-chat-form', hidden: true });
  private readonly toasts = h('div', { class: 'toasts', 'aria-live': 'assertive' });
  private readonly meDot = h('span', { class: 'dot', 'data-status': 'unknown' });
  private lastStatus: ConnectionStatus | null = null;
  private retryAt = 0;
  private bannerTimer: ReturnType<typeof setInterval> | undefined;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private renderedFirstKey: string | undefined;
  private renderedFor: string | null = null;
  private stickToBottom = true;

  constructor(
    private readonly state: ChatState,
    private readonly signOut: () => void,
  ) {}

  mount(): void {
    const membersInput = h('input', { name: 'members', 'data-testid': 'new-chat-members', placeholder: 'People: bob, carol', required: true, autocapitalize: 'none' });
    const titleInput = h('input', { name: 'title', 'data-testid': 'new-chat-title', placeholder: 'Group title (optional)' });
    replaceChildren(
      this.newChat,
      membersInput,
      titleInput,
      h('div', { class: 'row' },
        h('button', { type: 'submit', 'data-testid': 'new-chat-create' }, 'Start chat'),
        h('button', { type: 'button', class: 'secondary', onclick: () => (this.newChat.hidden = true) }, 'Cancel'),
      ),
    );
    this.newChat.addEventListener('submit', (event) => {
      event.preventDefault();
      const members = membersInput.value.split(/[\s,]+/).map((m) => m.trim()).filter((m) => m && m !== this.state.me);
      const title = titleInput.value.trim();
      if (members.length === 0) return;
      const created =
        members.length === 1 && !title
          ? this.state.client.createDirect(members[0]!)
          : this.state.client.createGroup(title || [this.state.me, ...members].join(', '), members);
      created.then(
        (conversation) => {
          membersInput.value = titleInput.value = '';
          this.newChat.hidden = true;
          location.hash = `#/c/${encodeURIComponent(conversation.conversationId)}`;
        },
        (error: unknown) => this.toast(error instanceof ParleyError ? error.message : String(error)),
      );
    });

    this.input.addEventListener('input', () => {
      this.autosize();
      const id = this.state.openConversationId;
      if (!id) return;
      this.state.client.setTyping(id, this.input.value.length > 0);
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => this.state.client.setTyping(id, false), typingIdleMs);
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.messages.addEventListener('scroll', () => this.maybeLoadOlder());

    const sidebar = h(
      'aside',
      { class: 'sidebar' },
      h('header', { class: 'bar' },
        h('div', { class: 'me', 'data-testid': 'me' }, this.meDot, this.state.me),
        h('button', { type: 'button', class: 'icon', title: 'New chat', 'aria-label': 'New chat', 'data-testid': 'new-chat', onclick: () => {
          this.newChat.hidden = !this.newChat.hidden;
          if (!this.newChat.hidden) membersInput.focus();
        } }, '+'),
        h('button', { type: 'button', class: 'icon', title: 'Sign out', 'aria-label': 'Sign out', 'data-testid': 'sign-out', onclick: () => this.signOut() }, '⎋'),
      ),
      this.newChat,
      this.list,
    );
    const conversation = h(
      'section',
      { class: 'conversation' },
      h('header', { class: 'bar' },
        h('button', { type: 'button', class: 'icon back', 'aria-label': 'Back', 'data-testid': 'back', onclick: () => (location.hash = '') }, '‹'),
        h('div', { class: 'heading' }, this.title, this.subtitle),
      ),
      this.messages,
      this.typing,
      h('form', { class: 'composer', onsubmit: (event) => {
        event.preventDefault();
        this.submit();
      } }, this.input, h('button', { type: 'submit', 'data-testid': 'composer-send' }, 'Send')),
    );
    replaceChildren(this.layout, sidebar, conversation);
    replaceChildren(root, this.banner, this.layout, this.toasts);

    this.state.subscribe(() => this.render());
    addEventListener('hashchange', () => this.route());
    this.route();
    this.render();
  }

  toast(text: string): void {
    const el = h('div', { class: 'toast', role: 'alert' }, text);
    this.toasts.appendChild(el);
    setTimeout(() => el.remove(), 5_000);
  }

  private route(): void {
    const match = /^#\/c\/(.+)$/.exec(location.hash);
    const id = match ? decodeURIComponent(match[1]!) : null;
    this.layout.classList.toggle('show-conversation', id !== null);
    void this.state.open(id).then(() => this.fillViewport());
    this.render();
    if (id) this.input.focus();
  }

  private submit(): void {
    const text = this.input.value;
    if (!text.trim()) return;
    this.state.send(text);
    this.input.value = '';
    this.autosize();
    clearTimeout(this.typingTimer);
    this.stickToBottom = true;
  }

  private autosize(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  private render(): void {
    this.renderBanner();
    this.renderList();
    this.renderConversation();
  }

  private renderBanner(): void {
    const status = this.state.status;
    if (status !== this.lastStatus && status.state === 'waiting') this.retryAt = Date.now() + (status.retryInMs ?? 0);
    this.lastStatus = status;
    this.meDot.dataset.status = status.state === 'online' ? 'online' : 'offline';
    const show = status.state !== 'online' && status.state !== 'idle';
    this.banner.hidden = !show;
    this.banner.dataset.state = status.state;
    clearInterval(this.bannerTimer);
    if (!show) return;
    const text = () => {
      switch (status.state) {
        case 'connecting':
          return status.attempt > 0 ? 'Reconnecting…' : 'Connecting…';
        case 'syncing':
          return 'Catching up…';
        case 'waiting': {
          const seconds = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
          return seconds > 0 ? `Connection lost. Reconnecting in ${seconds} s…` : 'Reconnecting…';
        }
        case 'closed':
          return 'Disconnected.';
        default:
          return '';
      }
    };
    const label = h('span', {}, text());
    replaceChildren(
      this.banner,
      label,
      status.state === 'waiting' && h('button', { type: 'button', class: 'link', onclick: () => this.state.client.reconnectNow() }, 'Retry now'),
    );
    if (status.state === 'waiting') this.bannerTimer = setInterval(() => (label.textContent = text()), 1_000);
  }

  private renderList(): void {
    const rows = this.state.conversations();
    const open = this.state.openConversationId;
    if (rows.length === 0) {
      replaceChildren(this.list, h('li', { class: 'empty' }, 'No conversations yet. Start one with +.'));
      return;
    }
    replaceChildren(
      this.list,
      ...rows.map((row) =>
        h('li', {},
          h('a', {
            href: `#/c/${encodeURIComponent(row.conversationId)}`,
            class: `conversation-item${row.conversationId === open ? ' active' : ''}${row.unread > 0 ? ' has-unread' : ''}`,
            'data-testid': 'conversation-item',
            'data-conversation-id': row.conversationId,
            'data-title': row.title,
          },
            row.peer ? presenceDot(row.peer) : h('span', { class: 'avatar group', 'aria-hidden': 'true' }, '#'),
            h('span', { class: 'item-main' },
              h('span', { class: 'item-title' }, row.title),
              h('span', { class: 'item-preview' }, row.preview || (row.kind === 'group' ? `${row.members.length} members` : 'No messages yet')),
            ),
            row.unread > 0 && h('span', { class: 'badge', 'data-testid': 'unread-badge', 'aria-label': `${row.unread} unread` }, row.unread > 99 ? '99+' : row.unread),
          ),
        ),
      ),
    );
  }

  private renderConversation(): void {
    const id = this.state.openConversationId;
    const conversation = id ? this.state.client.conversation(id) : undefined;
    if (!id) {
      this.title.textContent = 'Parley';
      replaceChildren(this.subtitle, 'Pick a conversation');
      replaceChildren(this.messages, h('div', { class: 'placeholder' }, 'Select a conversation or start a new one.'));
      this.typing.textContent = '';
      this.renderedFor = null;
      return;
    }
    this.title.textContent = conversation ? titleOf(conversation, this.state.me) : 'Loading…';
    const others = conversation?.members.filter((m) => m !== this.state.me) ?? [];
    if (conversation?.kind === 'direct' && others[0]) {
      const peer = this.state.client.presenceOf(others[0]) ?? { userId: others[0], status: 'unknown' as const, lastSeenAt: null };
      replaceChildren(this.subtitle, presenceDot(peer), presenceText(peer));
    } else {
      replaceChildren(
        this.subtitle,
        ...others.flatMap((m) => {
          const p = this.state.client.presenceOf(m) ?? { userId: m, status: 'unknown' as const, lastSeenAt: null };
          return [h('span', { class: 'member' }, presenceDot(p), m)];
        }),
      );
    }
    this.typing.textContent = this.state.typingText(id);

    const rows = this.state.messages(id);
    const el = this.messages;
    const switched = this.renderedFor !== id;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    const fromBottom = el.scrollHeight - el.scrollTop;
    const prepended = !switched && rows[0]?.key !== this.renderedFirstKey;
    const children: HTMLElement[] = [
      this.state.expired(id)
        ? h('div', { class: 'history-start', 'data-testid': 'history-expired' }, 'Older messages are no longer available')
        : this.state.reachedStart(id)
        ? h('div', { class: 'history-start' }, rows.length ? 'Beginning of the conversation' : 'No messages yet. Say hi!')
        : h('div', { class: 'history-more', 'data-testid': 'history-loading' }, 'Loading earlier messages…'),
    ];
    let previous: MessageRow | undefined;
    for (const row of rows) {
      children.push(messageNode(row, conversation?.kind === 'group' && !row.mine && previous?.senderId !== row.senderId));
      previous = row;
    }
    replaceChildren(el, ...children);
    if (switched || this.stickToBottom || (atBottom && !prepended)) el.scrollTop = el.scrollHeight;
    else if (prepended) el.scrollTop = el.scrollHeight - fromBottom;
    this.stickToBottom = false;
    this.renderedFor = id;
    this.renderedFirstKey = rows[0]?.key;
  }

  private maybeLoadOlder(): void {
    const id = this.state.openConversationId;
    if (!id || this.messages.scrollTop > 120 || this.state.reachedStart(id)) return;
    void this.state.loadOlder(id).then(() => this.fillViewport());
  }

  /** Keeps loading older pages until the view can scroll, so infinite scroll has something to scroll. */
  private fillViewport(): void {
    const id = this.state.openConversationId;
    if (!id || this.state.reachedStart(id)) return;
    requestAnimationFrame(() => {
      if (this.messages.scrollHeight <= this.messages.clientHeight + 120) this.maybeLoadOlder();
    });
  }
}

function messageNode(row: MessageRow, showSender: boolean): HTMLElement {
  const time = row.createdAt ? new Date(row.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
  return h(
    'div',
    {
      class: `message ${row.mine ? 'mine' : 'theirs'}`,
      'data-testid': 'message',
      'data-seq': row.seq ?? '',
      'data-sender': row.senderId,
      'data-mark': row.mark ?? '',
    },
    showSender && h('div', { class: 'sender' }, row.senderId),
    h('div', { class: 'body' }, row.body),
    h('div', { class: 'meta' },
      time,
      row.mark && h('span', { class: `mark mark-${row.mark}`, 'data-testid': 'message-mark', title: row.mark, 'aria-label': row.mark }, markGlyph(row.mark)),
    ),
  );
}

function markGlyph(mark: NonNullable<MessageRow['mark']>): string {
  return mark === 'pending' ? '◷' : mark === 'sent' ? '✓' : '✓✓';
}

function presenceDot(p: PresenceInfo): HTMLElement {
  return h('span', { class: 'dot', 'data-testid': 'presence-dot', 'data-user': p.userId, 'data-status': p.status, title: presenceText(p) });
}

function presenceText(p: PresenceInfo): string {
  if (p.status === 'online') return 'online';
  if (p.status === 'offline') return p.lastSeenAt ? `last seen ${new Date(p.lastSeenAt).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' })}` : 'offline';
  return '';
}
