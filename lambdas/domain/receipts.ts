import { conversationOfMember } from './conversations.js';
import type { Deps } from './deps.js';
import { BadRequestError } from './errors.js';
import { publish } from './fanout.js';
import type { Caller, Receipt } from './types.js';

/** Moves the caller's delivered or read cursor forward and tells the other members when it moved. */
export async function acknowledge(deps: Deps, caller: Caller, input: { conversationId: string; kind: 'delivered' | 'read'; seq: number }): Promise<Receipt> {
  const conversation = await conversationOfMember(deps, caller, input.conversationId);
  if (input.seq > conversation.lastSeq) {
    throw new BadRequestError(`seq: the conversation's last seq is ${conversation.lastSeq}`);
  }
  const moved = await deps.conversations.advanceReceipt(input.conversationId, caller.userId, input.kind, input.seq);
  const state = moved ?? (await deps.conversations.getMember(input.conversationId, caller.userId));
  const receipt: Receipt = {
    conversationId: input.conversationId,
    userId: caller.userId,
    lastDeliveredSeq: state?.lastDeliveredSeq ?? 0,
    lastReadSeq: state?.lastReadSeq ?? 0,
  };
  // In large groups per-member receipts would multiply every message by the group size; they are read via sync.
  if (moved && conversation.members.length <= deps.limits.receiptPushMaxMembers) {
    await publish(deps, { type: 'receipt', ...receipt }, conversation.members, {
      excludeConnectionId: caller.connectionId,
      conversationId: input.conversationId,
    });
  }
  return receipt;
}
