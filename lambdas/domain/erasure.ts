import type { Deps } from './deps.js';
import type { ArchiveStore, ItemScrub, StoredMessage } from './ports.js';
import { archivePrefix } from './archive.js';

/** What `eraseUser` did. */
export interface ErasureReport {
  userId: string;
  erasedAt: string;
  /** Conversations whose timeline was searched (every membership, current or past). */
  conversations: number;
  /** Items whose body was removed (messages and edits). */
  items: number;
  /** Archive objects rewritten without the user's bodies. */
  archiveObjects: number;
}

/** Memberships read per page while erasing. */
const membershipPage = 100;

/**
 * How an item of the erased user is rewritten: messages become tombstones, edits lose their body. Items an earlier
 * erasure rewrote are left alone, so a repeated erasure writes (and reports) only what is left.
 */
function scrubOf(item: StoredMessage): ItemScrub | undefined {
  const kind = item.kind ?? 'message';
  if (kind === 'message')
    return item.erased ? undefined : { set: { deleted: true, erased: true, reactions: item.reactions ?? [] }, remove: ['body', 'editSeqs'] };
  if (kind === 'edit') return item.body ? { set: { body: '' } } : undefined;
  return undefined;
}

/**
 * Erases every message of one user: in each conversation they belong or belonged to (their memberships through the
 * `byUser` index, no table scan), the message items become tombstones (`deleted`, `erased`, no body) and their edit
 * events lose their bodies. Seqs, other members' items and the reactions and edits others made stay as they are.
 * An erasure marker is stored first, so the archive consumer drops the bodies of items still in flight in the stream;
 * then the archive's objects of those conversations are rewritten without the user's bodies.
 */
export async function eraseUser(deps: Deps, userId: string, archive?: ArchiveStore): Promise<ErasureReport> {
  const erasedAt = deps.now().toISOString();
  await deps.users.markErased(userId, erasedAt);
  const report: ErasureReport = { userId, erasedAt, conversations: 0, items: 0, archiveObjects: 0 };
  let from: string | undefined;
  do {
    const page = await deps.conversations.listMemberships(userId, { limit: membershipPage, from });
    for (const membership of page.items) {
      report.conversations++;
      const items = await deps.messages.itemsBySender(membership.conversationId, userId);
      for (const item of items) {
        const scrub = scrubOf(item);
        if (scrub && (await deps.messages.scrub(membership.conversationId, item.seq, userId, scrub))) report.items++;
      }
      if (archive) report.archiveObjects += await eraseFromArchive(archive, membership.conversationId, userId, erasedAt);
    }
    from = page.next ?? undefined;
  } while (from !== undefined);
  return report;
}

/** Rewrites the archive objects of one conversation that hold bodies of the user; returns how many. */
export async function eraseFromArchive(archive: ArchiveStore, conversationId: string, userId: string, erasedAt: string): Promise<number> {
  let rewritten = 0;
  for (const key of await archive.list(archivePrefix(conversationId))) {
    const rows = await archive.readRows(key);
    if (!rows.some((row) => row.sender_id === userId && row.body !== '' && row.created_at <= erasedAt)) continue;
    await archive.writeRows(
      key,
      rows.map((row) =>
        row.sender_id === userId && row.created_at <= erasedAt
          ? { ...row, body: '', erased: row.kind === 'message' ? true : row.erased, deleted: row.kind === 'message' ? true : row.deleted }
          : row,
      ),
    );
    rewritten++;
  }
  return rewritten;
}
