import type { GroupAddSetting } from '../../client/index.js';
import type { ChatState } from './chat-state.js';
import { append, h, replaceChildren } from './dom.js';
import { errorText, parseUsers } from './group-panel.js';

/**
 * Your settings in the sidebar: who may add you to groups (`groupAdd`), the users you blocked (with unblock) and
 * a field to block someone. Inputs are built once, so re-renders keep what is being typed.
 */
export class SettingsPanel {
  /** The panel's root element. */
  readonly element = h('section', { class: 'side-panel', 'data-testid': 'settings-panel', 'aria-label': 'Settings', hidden: true });
  private readonly groupAdd = {
    anyone: h('input', { type: 'radio', name: 'group-add', value: 'anyone', 'data-testid': 'group-add-anyone' }),
    contacts: h('input', { type: 'radio', name: 'group-add', value: 'contacts', 'data-testid': 'group-add-contacts' }),
  };
  private readonly blockedList = h('ul', { class: 'plain-list', 'data-testid': 'blocked-list' });
  private readonly blockInput = h('input', {
    'data-testid': 'block-input',
    'aria-label': 'User to block',
    placeholder: 'Block a user: mallory',
    autocapitalize: 'none',
  });
  private readonly error = h('p', { class: 'error', 'data-testid': 'settings-error', role: 'alert' });

  constructor(
    private readonly state: ChatState,
    private readonly toast: (text: string) => void,
  ) {
    for (const [value, input] of Object.entries(this.groupAdd) as [GroupAddSetting, HTMLInputElement][]) {
      input.addEventListener('change', () => {
        if (input.checked) this.run(this.state.setGroupAdd(value));
      });
    }
    const blockForm = h(
      'form',
      { class: 'row', 'data-testid': 'block-form' },
      this.blockInput,
      h('button', { type: 'submit', 'data-testid': 'block-submit' }, 'Block'),
    );
    blockForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const users = parseUsers(this.blockInput.value);
      if (users.length === 0) return;
      if (users.includes(this.state.me)) return this.fail(new Error('You cannot block yourself.'));
      this.run(Promise.all(users.map((u) => this.state.block(u))).then(() => (this.blockInput.value = '')));
    });
    append(this.element, [
      h('h3', { class: 'info-heading' }, 'Settings'),
      h(
        'fieldset',
        { class: 'choice' },
        h('legend', {}, 'Who may add me to groups'),
        h('label', {}, this.groupAdd.anyone, ' Anyone'),
        h('label', {}, this.groupAdd.contacts, ' Only people I share a conversation with (others invite me)'),
      ),
      h('h4', {}, 'Blocked users'),
      this.blockedList,
      blockForm,
      this.error,
    ]);
  }

  /** Whether the panel is open. */
  get open(): boolean {
    return !this.element.hidden;
  }

  /** Opens or closes the panel; opening reloads the settings from the server. */
  toggle(open = !this.open): void {
    this.element.hidden = !open;
    if (open) {
      this.error.textContent = '';
      this.run(this.state.loadSettings());
    }
  }

  /** Shows the loaded settings. */
  render(): void {
    if (!this.open) return;
    const settings = this.state.settings;
    for (const [value, input] of Object.entries(this.groupAdd)) input.checked = settings?.groupAdd === value;
    const blocked = settings?.blocked ?? [];
    replaceChildren(
      this.blockedList,
      ...(blocked.length === 0
        ? [h('li', { class: 'muted' }, settings ? 'Nobody.' : 'Loading…')]
        : blocked.map((userId) =>
            h(
              'li',
              { class: 'member-row', 'data-testid': 'blocked-user', 'data-user': userId },
              h('span', { class: 'member-name' }, userId),
              h(
                'button',
                { type: 'button', class: 'small secondary', 'aria-label': `Unblock ${userId}`, onclick: () => this.run(this.state.unblock(userId)) },
                'Unblock',
              ),
            ),
          )),
    );
  }

  private run(request: Promise<unknown>): void {
    this.error.textContent = '';
    request.catch((error: unknown) => this.fail(error));
  }

  private fail(error: unknown): void {
    this.error.textContent = errorText(error);
    this.toast(errorText(error));
    // A refused change: show the settings as they really are again.
    this.render();
  }
}

/** Pending group invitations with accept and decline; hidden while there are none. */
export class InvitationList {
  /** The list's root element. */
  readonly element = h('section', { class: 'side-panel invitations', 'data-testid': 'invitations', 'aria-label': 'Invitations', hidden: true });

  constructor(
    private readonly state: ChatState,
    private readonly toast: (text: string) => void,
    private readonly opened: (conversationId: string) => void,
  ) {}

  /** Shows the invitations last loaded. */
  render(): void {
    const invitations = this.state.invitations;
    this.element.hidden = invitations.length === 0;
    replaceChildren(
      this.element,
      h('h3', { class: 'info-heading' }, `Invitations (${invitations.length})`),
      h(
        'ul',
        { class: 'plain-list' },
        ...invitations.map((invitation) =>
          h(
            'li',
            { class: 'invitation', 'data-testid': 'invitation', 'data-conversation-id': invitation.conversationId },
            h('span', { class: 'member-name' }, h('strong', {}, invitation.title), ` from ${invitation.invitedBy}`),
            h(
              'button',
              {
                type: 'button',
                class: 'small',
                'data-testid': 'invitation-accept',
                'aria-label': `Accept invitation to ${invitation.title}`,
                onclick: () =>
                  this.state.acceptInvitation(invitation.conversationId).then(
                    (c) => this.opened(c.conversationId),
                    (error: unknown) => this.toast(errorText(error)),
                  ),
              },
              'Accept',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'small secondary',
                'data-testid': 'invitation-decline',
                'aria-label': `Decline invitation to ${invitation.title}`,
                onclick: () => this.state.declineInvitation(invitation.conversationId).catch((error: unknown) => this.toast(errorText(error))),
              },
              'Decline',
            ),
          ),
        ),
      ),
    );
  }
}
