import { archive } from '../../lib/definitions.js';
import type { ArchiveRow, ArchiveStore, UserStore } from './ports.js';

/** One change of a timeline item from the messages table's stream, with the item as it is after the change. */
export interface ArchiveChange {
  change: 'INSERT' | 'MODIFY';
  item: Record<string, unknown>;
  /** When the change was stored (the stream record's approximate creation time). */
  changedAt: string;
  /** The stream record's sequence number: names the object, so a retried batch rewrites the same one. */
  sequenceNumber: string;
}

/** What archiving needs: where to write, and who was erased. */
export interface ArchiveDeps {
  archive: ArchiveStore;
  users: Pick<UserStore, 'erasedAt'>;
}

/** The archive's folder of one conversation. */
export const archivePrefix = (conversationId: string) => `${archive.conversationKeyPrefix}${conversationId}/`;

// Zero-padded seqs sort the objects of a day in timeline order.
const padded = (seq: number) => String(seq).padStart(12, '0');

/** The object holding one batch's rows of a conversation and day: `conversation=<id>/date=<yyyy-mm-dd>/<first>-<last>-<sequence>.parquet`. */
export const archiveKey = (conversationId: string, date: string, firstSeq: number, lastSeq: number, sequenceNumber: string) =>
  `${archivePrefix(conversationId)}date=${date}/${padded(firstSeq)}-${padded(lastSeq)}-${sequenceNumber}.parquet`;

const text = (value: unknown) => (typeof value === 'string' ? value : null);
const number = (value: unknown) => (value === undefined || value === null ? null : Number(value));

/** A stored timeline item as an archive row. */
export function toArchiveRow(change: ArchiveChange): ArchiveRow {
  const { item } = change;
  const userIds = item.userIds instanceof Set ? [...item.userIds] : Array.isArray(item.userIds) ? item.userIds : null;
  return {
    conversation_id: String(item.conversationId),
    seq: Number(item.seq),
    epoch: text(item.epoch),
    kind: text(item.kind) ?? 'message',
    sender_id: String(item.senderId ?? ''),
    client_message_id: String(item.clientMessageId ?? ''),
    body: String(item.body ?? ''),
    created_at: String(item.createdAt ?? ''),
    edited_at: text(item.editedAt),
    deleted: item.deleted === true,
    erased: item.erased === true,
    target_seq: number(item.targetSeq),
    emoji: text(item.emoji),
    op: text(item.op),
    user_ids: userIds ? JSON.stringify(userIds) : null,
    role: text(item.role),
    title: text(item.title),
    retention_days: number(item.retentionDays),
    expires_at: number(item.expiresAt),
    change: change.change,
    changed_at: change.changedAt,
  };
}

/**
 * Writes a batch of stream changes as Parquet: one object per conversation and day of the items' `createdAt`. Head
 * items (seq 0) and the `skipped` placeholders a reader writes into a dead send's seq (no sender, no content) are left
 * out. Rows of a user erased after the item was written carry no body, even when the change was still in the stream
 * when the erasure ran. Returns the keys written.
 */
export async function archiveChanges(deps: ArchiveDeps, changes: ArchiveChange[]): Promise<string[]> {
  const timeline = changes.filter((change) => Number(change.item.seq) > 0 && change.item.kind !== 'skipped');
  if (timeline.length === 0) return [];
  const rows = timeline.map(toArchiveRow);
  // An empty key is a ValidationException in DynamoDB, which would fail (and retry) the whole batch.
  const erased = await deps.users.erasedAt([...new Set(rows.map((row) => row.sender_id).filter((id) => id !== ''))]);
  const groups = new Map<string, { rows: ArchiveRow[]; sequenceNumber: string }>();
  rows.forEach((row, index) => {
    const at = erased.get(row.sender_id);
    const kept = at !== undefined && row.created_at <= at ? { ...row, body: '', erased: row.kind === 'message' || row.erased } : row;
    const group = `${row.conversation_id}\u0000${row.created_at.slice(0, 10)}`;
    const found = groups.get(group) ?? { rows: [], sequenceNumber: timeline[index]!.sequenceNumber };
    found.rows.push(kept);
    groups.set(group, found);
  });
  const keys: string[] = [];
  for (const [group, { rows: groupRows, sequenceNumber }] of groups) {
    const [conversationId, date] = group.split('\u0000') as [string, string];
    const seqs = groupRows.map((row) => row.seq);
    const key = archiveKey(conversationId, date, Math.min(...seqs), Math.max(...seqs), sequenceNumber);
    await deps.archive.writeRows(key, groupRows);
    keys.push(key);
  }
  return keys;
}
