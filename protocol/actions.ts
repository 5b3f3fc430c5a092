/**
 * Action names and the `type` of each action's successful reply. Runtime-free of zod: the SDK matches replies with
 * it, the CDK stack makes one route per action (lib/definitions.ts), and the reply schemas are keyed by it.
 */

/** The `type` of the successful reply to each action. */
export const replyTypes = {
  hello: 'hello',
  createConversation: 'conversation',
  addMembers: 'conversation',
  listConversations: 'conversations',
  send: 'ack',
  history: 'history',
  sync: 'sync',
  heartbeat: 'pong',
  ack: 'receipt',
  typing: 'ok',
  presence: 'presence',
  removeMembers: 'conversation',
  leave: 'conversation',
  setRole: 'conversation',
  updateConversation: 'conversation',
  block: 'settings',
  unblock: 'settings',
  getSettings: 'settings',
  updateSettings: 'settings',
  listInvitations: 'invitations',
  acceptInvitation: 'conversation',
  declineInvitation: 'ok',
  edit: 'ack',
  deleteMessage: 'ack',
  react: 'ack',
  unreact: 'ack',
} as const;

/** A client action name. */
export type ActionName = keyof typeof replyTypes;

/** Client actions; each is a WebSocket route handled by the `actions` function. */
export const actions = Object.keys(replyTypes) as ActionName[];

/**
 * The catch-up reads: routed to their own function (lib/definitions.ts), and resent by the SDK when API Gateway answers
 * with its own error frame (a throttled or failed function), since reading twice changes nothing.
 */
export const catchupActions: readonly ActionName[] = ['sync', 'history', 'listConversations'];

/** The `type` of every pushed event (frames without `requestId`). */
export const eventTypes = ['message', 'conversation', 'receipt', 'presence', 'typing'] as const;

/** A pushed event's type. */
export type EventType = (typeof eventTypes)[number];
