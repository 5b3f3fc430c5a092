import { IndexedDbStorage, ParleyClient, type ConnectionStatus, type PresenceInfo } from '../../client/index.js';
import { ChatState, reactionEmoji, titleOf, type MessageRow, type TimelineRow } from './chat-state.js';
import { fetchDevToken, loadConfig, type WebConfig } from './dev-auth.js';
import { h, replaceChildren } from './dom.js';
import { errorText, GroupPanel } from './group-panel.js';
import { InvitationList, SettingsPanel } from './settings-panel.js';

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
    h(
      'main',
      { class: 'login' },
      h('h1', {}, 'Parley'),
      h('p', { class: 'muted' }, 'Local development sign-in'),
      form,
      error && h('p', { class: 'error' }, error),
    ),
  );
  input.focus();
}

function startChat(config: WebConfig, user: string): void {
  const client = new ParleyClient({
    url: config.wsUrl,
    userId: user,
    token: () => fetchDevToken(user),
    // Unsent messages and cursors survive a reload; one database per endpoint, namespaced by user inside it.
    storage: new IndexedDbStorage({ databaseName: `parley.${config.wsUrl}` }),
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
  void client
    .connect()
    .then(() => state.loadConversations())
    .catch((error: unknown) => ui.toast(String(error)));
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
  private readonly sendButton = h('button', { type: 'submit', 'data-testid': 'composer-send' }, 'Send');
  private readonly infoButton = h(
    'button',
    {
      type: 'button',
      class: 'small secondary info-toggle',
      title: 'Conversation info',
      'aria-label': 'Conversation info',
      'aria-expanded': 'false',
      'data-testid': 'info-button',
      hidden: true,
    },
    'Info',
  );
  private readonly removalBanner = h('div', { class: 'removal', 'data-testid': 'removal-banner', role: 'status', hidden: true });
  private readonly editBar = h('div', { class: 'edit-bar', 'data-testid': 'edit-bar', hidden: true });
  private readonly groupPanel: GroupPanel;
  private readonly settingsPanel: SettingsPanel;
  private readonly invitationList: InvitationList;
  /** The message being edited in the composer, if any. */
  private editing: { conversationId: string; seq: number } | null = null;
  /** The message whose emoji picker is open, if any. */
  private pickerFor: { conversationId: string; seq: number } | null = null;
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
  ) {
    const toast = (text: string) => this.toast(text);
    this.groupPanel = new GroupPanel(state, toast);
    this.settingsPanel = new SettingsPanel(state, toast);
    this.invitationList = new InvitationList(state, toast, (id) => (location.hash = `#/c/${encodeURIComponent(id)}`));
  }

  mount(): void {
    const membersInput = h('input', {
      name: 'members',
      'data-testid': 'new-chat-members',
      placeholder: 'People: bob, carol',
      required: true,
      autocapitalize: 'none',
    });
    const titleInput = h('input', { name: 'title', 'data-testid': 'new-chat-title', placeholder: 'Group title (optional)' });
    replaceChildren(
      this.newChat,
      membersInput,
      titleInput,
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'submit', 'data-testid': 'new-chat-create' }, 'Start chat'),
        h('button', { type: 'button', class: 'secondary', onclick: () => (this.newChat.hidden = true) }, 'Cancel'),
      ),
    );
    this.newChat.addEventListener('submit', (event) => {
      event.preventDefault();
      const members = membersInput.value
        .split(/[\s,]+/)
        .map((m) => m.trim())
        .filter((m) => m && m !== this.state.me);
      const title = titleInput.value.trim();
      if (members.length === 0) return;
      const created =
        members.length === 1 && !title
          ? this.state.client.createDirect(members[0]!)
          : this.state.createGroup(title || [this.state.me, ...members].join(', '), members).then(({ conversation, invited }) => {
              if (invited.length > 0) this.toast(`Invited ${invited.join(', ')} (they must accept).`);
              return conversation;
            });
      created.then(
        (conversation) => {
          membersInput.value = titleInput.value = '';
          this.newChat.hidden = true;
          location.hash = `#/c/${encodeURIComponent(conversation.conversationId)}`;
        },
        (error: unknown) => this.toast(errorText(error)),
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
      } else if (event.key === 'Escape' && this.editing) {
        this.stopEditing();
      }
    });
    // Message actions are rebuilt on every render, so one delegated listener handles them all.
    this.messages.addEventListener('click', (event) => this.messageAction(event));
    this.messages.addEventListener('scroll', () => this.maybeLoadOlder());

    const sidebar = h(
      'aside',
      { class: 'sidebar' },
      h(
        'header',
        { class: 'bar' },
        h('div', { class: 'me', 'data-testid': 'me' }, this.meDot, this.state.me),
        h(
          'button',
          {
            type: 'button',
            class: 'icon',
            title: 'New chat',
            'aria-label': 'New chat',
            'data-testid': 'new-chat',
            onclick: () => {
              this.newChat.hidden = !this.newChat.hidden;
              if (!this.newChat.hidden) membersInput.focus();
            },
          },
          '+',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'icon',
            title: 'Settings',
            'aria-label': 'Settings',
            'data-testid': 'settings-button',
            onclick: () => {
              this.settingsPanel.toggle();
              if (this.settingsPanel.open) this.state.loadInvitations().catch((error: unknown) => this.toast(errorText(error)));
              this.render();
            },
          },
          '⚙',
        ),
        h(
          'button',
          { type: 'button', class: 'icon', title: 'Sign out', 'aria-label': 'Sign out', 'data-testid': 'sign-out', onclick: () => this.signOut() },
          '⎋',
        ),
      ),
      this.newChat,
      this.settingsPanel.element,
      this.invitationList.element,
      this.list,
    );
    const conversation = h(
      'section',
      { class: 'conversation' },
      h(
        'header',
        { class: 'bar' },
        h('button', { type: 'button', class: 'icon back', 'aria-label': 'Back', 'data-testid': 'back', onclick: () => (location.hash = '') }, '‹'),
        h('div', { class: 'heading' }, this.title, this.subtitle),
        this.infoButton,
      ),
      this.groupPanel.element,
      this.messages,
      this.typing,
      this.removalBanner,
      this.editBar,
      h(
        'form',
        {
          class: 'composer',
          onsubmit: (event) => {
            event.preventDefault();
            this.submit();
          },
        },
        this.input,
        this.sendButton,
      ),
    );
    this.infoButton.addEventListener('click', () => {
      this.groupPanel.toggle();
      this.infoButton.setAttribute('aria-expanded', String(this.groupPanel.open));
      if (this.groupPanel.open && !this.state.settings) this.state.loadSettings().catch(() => undefined);
      this.render();
    });
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
    if (this.editing && this.editing.conversationId !== id) this.stopEditing();
    this.pickerFor = null;
    void this.state.open(id).then(() => this.fillViewport());
    this.render();
    if (id) this.input.focus();
  }

  private submit(): void {
    const text = this.input.value;
    if (!text.trim()) return;
    if (this.editing) {
      const { conversationId, seq } = this.editing;
      this.state.edit(conversationId, seq, text).then(
        () => this.stopEditing(),
        (error: unknown) => this.toast(`Not edited: ${errorText(error)}`),
      );
      return;
    }
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

  private stopEditing(): void {
    this.editing = null;
    this.input.value = '';
    this.autosize();
    this.render();
  }

  /** Handles the buttons of a message (react, pick an emoji, toggle a reaction, edit, delete). */
  private messageAction(event: Event): void {
    const button = (event.target as Element).closest('button[data-action]') as HTMLButtonElement | null;
    const node = button?.closest('[data-seq]') as HTMLElement | null;
    const conversationId = this.state.openConversationId;
    const seq = Number(node?.dataset.seq);
    if (!button || !conversationId || !Number.isInteger(seq) || seq < 1) return;
    const failed = (what: string) => (error: unknown) => this.toast(`${what}: ${errorText(error)}`);
    switch (button.dataset.action) {
      case 'picker':
        this.pickerFor = this.pickerFor?.seq === seq && this.pickerFor.conversationId === conversationId ? null : { conversationId, seq };
        this.render();
        return;
      case 'react':
        this.pickerFor = null;
        this.state.toggleReaction(conversationId, seq, button.dataset.emoji ?? '').catch(failed('Reaction failed'));
        this.render();
        return;
      case 'edit': {
        const row = this.state.messages(conversationId).find((m) => m.seq === seq);
        if (!row) return;
        this.editing = { conversationId, seq };
        this.input.value = row.body;
        this.autosize();
        this.input.focus();
        this.render();
        return;
      }
      case 'delete':
        if (this.editing?.seq === seq) this.stopEditing();
        this.state.deleteMessage(conversationId, seq).catch(failed('Not deleted'));
        return;
      default:
    }
  }

  private render(): void {
    this.renderBanner();
    this.renderList();
    this.settingsPanel.render();
    this.invitationList.render();
    this.renderConversation();
    this.groupPanel.render(this.state.openConversationId);
  }

  /** The removal notice, the edit bar and whether the composer can be used. */
  private renderComposer(id: string | null): void {
    const removal = id ? this.state.removal(id) : null;
    const conversation = id ? this.state.client.conversation(id) : undefined;
    this.removalBanner.hidden = !removal;
    if (removal && conversation) {
      const title = titleOf(conversation, this.state.me);
      this.removalBanner.textContent = removal.left
        ? `You left ${title}.`
        : removal.by
          ? `You were removed from ${title} by ${removal.by}.`
          : `You were removed from ${title}.`;
    }
    this.input.disabled = this.sendButton.disabled = removal !== null;
    this.input.placeholder = removal ? 'You are no longer a member' : this.editing ? 'Edit message' : 'Message';
    if (removal && this.editing) this.editing = null;
    this.editBar.hidden = !this.editing;
    if (this.editing) {
      replaceChildren(
        this.editBar,
        h('span', {}, 'Editing message'),
        h('button', { type: 'button', class: 'link', 'data-testid': 'edit-cancel', onclick: () => this.stopEditing() }, 'Cancel'),
      );
    }
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
        h(
          'li',
          {},
          h(
            'a',
            {
              href: `#/c/${encodeURIComponent(row.conversationId)}`,
              class: `conversation-item${row.conversationId === open ? ' active' : ''}${row.unread > 0 ? ' has-unread' : ''}`,
              'data-testid': 'conversation-item',
              'data-conversation-id': row.conversationId,
              'data-title': row.title,
            },
            row.peer ? presenceDot(row.peer) : h('span', { class: 'avatar group', 'aria-hidden': 'true' }, '#'),
            h(
              'span',
              { class: 'item-main' },
              h('span', { class: 'item-title' }, row.title),
              h('span', { class: 'item-preview' }, row.preview || (row.kind === 'group' ? `${row.members.length} members` : 'No messages yet')),
            ),
            row.unread > 0 &&
              h('span', { class: 'badge', 'data-testid': 'unread-badge', 'aria-label': `${row.unread} unread` }, row.unread > 99 ? '99+' : row.unread),
          ),
        ),
      ),
    );
  }

  private renderConversation(): void {
    const id = this.state.openConversationId;
    const conversation = id ? this.state.client.conversation(id) : undefined;
    this.renderComposer(id);
    this.infoButton.hidden = !conversation;
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
    if (this.state.removal(id)) {
      // Not a member any more: what we last knew of the others' presence would only go stale.
      replaceChildren(this.subtitle, 'You are no longer a member');
    } else if (conversation?.kind === 'direct' && others[0]) {
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

    const rows = this.state.timeline(id);
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
    let previous: TimelineRow | undefined;
    for (const row of rows) {
      if (row.type === 'event') children.push(eventNode(row));
      else {
        const showSender = conversation?.kind === 'group' && !row.mine && (previous?.type !== 'message' || previous.senderId !== row.senderId);
        const picker = this.pickerFor?.conversationId === id && this.pickerFor.seq === row.seq;
        children.push(messageNode(row, showSender, picker, this.editing?.conversationId === id && this.editing.seq === row.seq));
      }
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

function messageNode(row: MessageRow, showSender: boolean, picker: boolean, editing: boolean): HTMLElement {
  const time = row.createdAt ? new Date(row.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
  const actions = row.seq !== null && (row.canReact || row.canEdit || row.canDelete);
  return h(
    'div',
    {
      class: `message ${row.mine ? 'mine' : 'theirs'}${row.deleted ? ' deleted' : ''}${editing ? ' editing' : ''}`,
      'data-testid': 'message',
      'data-seq': row.seq ?? '',
      'data-sender': row.senderId,
      'data-mark': row.mark ?? '',
      'data-deleted': row.deleted ? 'true' : null,
      'data-edited': row.edited ? 'true' : null,
    },
    showSender && h('div', { class: 'sender' }, row.senderId),
    row.deleted ? h('div', { class: 'body tombstone', 'data-testid': 'tombstone' }, 'message deleted') : h('div', { class: 'body' }, row.body),
    row.reactions.length > 0 &&
      h(
        'div',
        { class: 'reactions' },
        ...row.reactions.map((r) =>
          h(
            'button',
            {
              type: 'button',
              class: `reaction${r.mine ? ' mine' : ''}`,
              'data-testid': 'reaction',
              'data-action': row.canReact ? 'react' : null,
              'data-emoji': r.emoji,
              'data-count': r.count,
              'data-mine': r.mine ? 'true' : 'false',
              'aria-pressed': r.mine ? 'true' : 'false',
              'aria-label': `${r.emoji} ${r.count}${r.mine ? ', including you' : ''}`,
              disabled: !row.canReact,
            },
            `${r.emoji} ${r.count}`,
          ),
        ),
      ),
    picker &&
      h(
        'div',
        { class: 'picker', 'data-testid': 'emoji-picker', role: 'group', 'aria-label': 'Pick a reaction' },
        ...reactionEmoji.map((emoji) =>
          h(
            'button',
            {
              type: 'button',
              class: 'small secondary',
              'data-action': 'react',
              'data-emoji': emoji,
              'data-testid': 'react-emoji',
              'aria-label': `React with ${emoji}`,
            },
            emoji,
          ),
        ),
      ),
    h(
      'div',
      { class: 'meta' },
      actions &&
        h(
          'span',
          { class: 'actions' },
          row.canReact &&
            h(
              'button',
              {
                type: 'button',
                class: 'link',
                'data-action': 'picker',
                'data-testid': 'react-button',
                'aria-label': 'React',
                'aria-expanded': picker ? 'true' : 'false',
              },
              '☺',
            ),
          row.canEdit &&
            h('button', { type: 'button', class: 'link', 'data-action': 'edit', 'data-testid': 'edit-button', 'aria-label': 'Edit message' }, 'Edit'),
          row.canDelete &&
            h('button', { type: 'button', class: 'link', 'data-action': 'delete', 'data-testid': 'delete-button', 'aria-label': 'Delete message' }, 'Delete'),
        ),
      row.edited && h('span', { class: 'edited', 'data-testid': 'edited-mark' }, 'edited'),
      time,
      row.mark && h('span', { class: `mark mark-${row.mark}`, 'data-testid': 'message-mark', title: row.mark, 'aria-label': row.mark }, markGlyph(row.mark)),
    ),
  );
}

function eventNode(row: Extract<TimelineRow, { type: 'event' }>): HTMLElement {
  return h('div', { class: 'event', 'data-testid': 'timeline-event', 'data-seq': row.seq, 'data-kind': row.kind, role: 'note' }, row.text);
}

function markGlyph(mark: NonNullable<MessageRow['mark']>): string {
  return mark === 'pending' ? '◷' : mark === 'sent' ? '✓' : '✓✓';
}

function presenceDot(p: PresenceInfo): HTMLElement {
  return h('span', { class: 'dot', 'data-testid': 'presence-dot', 'data-user': p.userId, 'data-status': p.status, title: presenceText(p) });
}

function presenceText(p: PresenceInfo): string {
  if (p.status === 'online') return 'online';
  if (p.status === 'offline')
    return p.lastSeenAt ? `last seen ${new Date(p.lastSeenAt).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' })}` : 'offline';
  return '';
}
