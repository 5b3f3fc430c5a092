import { ParleyError, type Role } from '../../client/index.js';
import { titleOf, type ChatState, type MemberRow } from './chat-state.js';
import { append, h, replaceChildren } from './dom.js';

/** Turns any failure into the sentence shown to the user (the server's message names what was wrong). */
export function errorText(error: unknown): string {
  if (error instanceof ParleyError) {
    // The SDK decorates the server's message with the action and code; users need the reason only.
    let reason = error.message;
    if (error.action && reason.startsWith(`${error.action}: `)) reason = reason.slice(error.action.length + 2);
    if (reason.endsWith(` (${error.code})`)) reason = reason.slice(0, -(error.code.length + 3));
    return error.code === 'forbidden' ? `Not allowed: ${reason}` : reason;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Splits "bob, carol dave" into user ids. */
export function parseUsers(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map((u) => u.trim())
        .filter(Boolean),
    ),
  ];
}

/** The label of the button that gives a member `role`. */
function roleLabel(role: Role): string {
  return role === 'owner' ? 'Make owner' : role === 'admin' ? 'Make admin' : 'Make member';
}

/**
 * The conversation info panel: for a group its members with roles and presence, add, remove, promote/demote,
 * rename and leave (each offered only to roles PROTOCOL.md allows); for a 1:1, block or unblock the other person.
 * Its form inputs are built once, so a re-render never loses what the user is typing.
 */
export class GroupPanel {
  /** The panel's root element. */
  readonly element = h('section', { class: 'info-panel', 'data-testid': 'info-panel', 'aria-label': 'Conversation info', hidden: true });
  private readonly heading = h('h3', { class: 'info-heading' });
  private readonly renameInput = h('input', { 'data-testid': 'rename-input', 'aria-label': 'Group title', maxlength: 100, required: true });
  private readonly renameForm = h('form', { class: 'row', 'data-testid': 'rename-form' });
  private readonly memberList = h('ul', { class: 'member-list', 'data-testid': 'member-list' });
  private readonly addInput = h('input', {
    'data-testid': 'add-members-input',
    'aria-label': 'Add people',
    placeholder: 'Add people: dave, erin',
    autocapitalize: 'none',
  });
  private readonly addForm = h('form', { class: 'row', 'data-testid': 'add-members-form' });
  private readonly notice = h('p', { class: 'muted notice', 'data-testid': 'info-notice', role: 'status' });
  private readonly error = h('p', { class: 'error', 'data-testid': 'info-error', role: 'alert' });
  private readonly actions = h('div', { class: 'row' });
  private shownFor: string | null = null;

  constructor(
    private readonly state: ChatState,
    private readonly toast: (text: string) => void,
  ) {
    append(this.renameForm, [this.renameInput, h('button', { type: 'submit', 'data-testid': 'rename-submit' }, 'Rename')]);
    append(this.addForm, [this.addInput, h('button', { type: 'submit', 'data-testid': 'add-members-submit' }, 'Add')]);
    this.renameForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const id = this.shownFor;
      const title = this.renameInput.value.trim();
      if (!id) return;
      if (!title) return this.fail(new Error('A group title cannot be empty.'));
      this.run(this.state.client.rename(id, title), () => 'Renamed.');
    });
    this.addForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const id = this.shownFor;
      const users = parseUsers(this.addInput.value).filter((u) => u !== this.state.me);
      if (!id || users.length === 0) return;
      this.run(this.state.addMembers(id, users), (invited) => {
        this.addInput.value = '';
        const added = users.filter((u) => !invited.includes(u));
        return [added.length > 0 && `Added ${added.join(', ')}.`, invited.length > 0 && `Invited ${invited.join(', ')} (they must accept).`]
          .filter(Boolean)
          .join(' ');
      });
    });
    append(this.element, [this.heading, this.renameForm, this.memberList, this.addForm, this.actions, this.notice, this.error]);
  }

  /** Whether the panel is open. */
  get open(): boolean {
    return !this.element.hidden;
  }

  /** Opens or closes the panel. */
  toggle(open = !this.open): void {
    this.element.hidden = !open;
    this.shownFor = null;
  }

  /** Updates the panel for the open conversation (does nothing while closed). */
  render(conversationId: string | null): void {
    if (!this.open || !conversationId) return;
    const conversation = this.state.client.conversation(conversationId);
    if (!conversation) return;
    if (this.shownFor !== conversationId) {
      // Another conversation: start with its own title and no leftovers of the previous one.
      this.shownFor = conversationId;
      this.renameInput.value = conversation.title ?? '';
      this.addInput.value = '';
      this.notice.textContent = this.error.textContent = '';
    }
    const group = conversation.kind === 'group';
    const removal = this.state.removal(conversationId);
    const manage = this.state.canManage(conversationId);
    const myRole = this.state.myRole(conversationId);
    this.heading.textContent = group
      ? `${titleOf(conversation, this.state.me)} · ${conversation.members.length} members${myRole ? ` · you are ${myRole}` : ''}`
      : titleOf(conversation, this.state.me);
    this.renameForm.hidden = !manage;
    this.addForm.hidden = !manage;
    if (removal) {
      replaceChildren(this.memberList, h('li', { class: 'muted' }, 'You are no longer a member of this group.'));
      replaceChildren(this.actions);
      return;
    }
    const members = this.state.members(conversationId);
    replaceChildren(this.memberList, ...members.map((m) => this.memberNode(conversationId, m, group)));
    replaceChildren(
      this.actions,
      group && h('button', { type: 'button', class: 'danger', 'data-testid': 'leave-group', onclick: () => this.leave(conversationId) }, 'Leave group'),
    );
  }

  private memberNode(conversationId: string, m: MemberRow, group: boolean): HTMLElement {
    const blocked = this.state.isBlocked(m.userId);
    return h(
      'li',
      { class: 'member-row', 'data-testid': 'member', 'data-user': m.userId, 'data-role': m.role ?? '' },
      h('span', { class: 'dot', 'data-testid': 'presence-dot', 'data-user': m.userId, 'data-status': m.presence.status, title: m.presence.status }),
      h('span', { class: 'member-name' }, m.me ? `${m.userId} (you)` : m.userId),
      group && m.role && h('span', { class: `role role-${m.role}`, 'data-testid': 'member-role' }, m.role),
      h(
        'span',
        { class: 'member-actions' },
        ...m.assignable.map((role) =>
          h(
            'button',
            {
              type: 'button',
              class: 'small',
              'data-testid': `set-role-${role}`,
              'aria-label': `${roleLabel(role)}: ${m.userId}`,
              onclick: () => this.run(this.state.client.setRole(conversationId, m.userId, role), () => `${m.userId} is now ${role}.`),
            },
            roleLabel(role),
          ),
        ),
        m.canRemove &&
          h(
            'button',
            {
              type: 'button',
              class: 'small danger',
              'data-testid': 'remove-member',
              'aria-label': `Remove ${m.userId}`,
              onclick: () => this.run(this.state.client.removeMembers(conversationId, [m.userId]), () => `Removed ${m.userId}.`),
            },
            'Remove',
          ),
        !m.me &&
          h(
            'button',
            {
              type: 'button',
              class: 'small secondary',
              'data-testid': blocked ? 'unblock-user' : 'block-user',
              'aria-label': `${blocked ? 'Unblock' : 'Block'} ${m.userId}`,
              onclick: () =>
                this.run(blocked ? this.state.unblock(m.userId) : this.state.block(m.userId), () => `${blocked ? 'Unblocked' : 'Blocked'} ${m.userId}.`),
            },
            blocked ? 'Unblock' : 'Block',
          ),
      ),
    );
  }

  private leave(conversationId: string): void {
    this.run(this.state.client.leave(conversationId), () => 'You left the group.');
  }

  /** Runs a request, then shows its outcome (or the server's refusal) in the panel. */
  private run<T>(request: Promise<T>, done: (value: T) => string): void {
    this.error.textContent = '';
    request.then(
      (value) => {
        this.notice.textContent = done(value);
      },
      (error: unknown) => this.fail(error),
    );
  }

  private fail(error: unknown): void {
    this.notice.textContent = '';
    this.error.textContent = errorText(error);
    this.toast(errorText(error));
  }
}
