import { describe, expect, it } from 'vitest';
import { MemoryUserStore } from '../../lambdas/adapters/memory-stores.js';
import { archiveChanges, type ArchiveChange } from '../../lambdas/domain/archive.js';
import type { ArchiveRow } from '../../lambdas/domain/ports.js';

const change = (item: Record<string, unknown>): ArchiveChange => ({
  change: 'INSERT',
  item: { conversationId: 'grp_1', createdAt: '2026-12-02T10:00:00.000Z', ...item },
  changedAt: '2026-12-02T10:00:01.000Z',
  sequenceNumber: '100',
});

describe('archiveChanges', () => {
  it('leaves out head items and skipped placeholders, and never asks the user store about an empty sender id', async () => {
    const written = new Map<string, ArchiveRow[]>();
    const users = new MemoryUserStore();
    await users.markErased('mallory', '2026-12-02T11:00:00.000Z');
    const asked: string[][] = [];
    const keys = await archiveChanges(
      {
        archive: { writeRows: async (key, rows) => void written.set(key, rows), list: async () => [], readRows: async () => [] },
        users: {
          // As DynamoDB does: an empty key attribute fails the whole BatchGetItem (ValidationException).
          erasedAt: async (userIds) => {
            asked.push(userIds);
            if (userIds.includes('')) throw new Error('The AttributeValue for a key attribute cannot contain an empty string value. Key: userId');
            return users.erasedAt(userIds);
          },
        },
      },
      [
        change({ seq: 0, lastSeq: 3 }),
        change({ seq: 1, senderId: 'alice', clientMessageId: 'm1', body: 'hi' }),
        change({ seq: 2, kind: 'skipped', senderId: '', clientMessageId: '', body: '' }),
        change({ seq: 3, senderId: 'mallory', clientMessageId: 'm3', body: 'secret' }),
      ],
    );
    expect(asked).toEqual([['alice', 'mallory']]);
    expect(keys).toEqual(['conversation=grp_1/date=2026-12-02/000000000001-000000000003-100.parquet']);
    expect(written.get(keys[0]!)!.map((row) => [row.seq, row.sender_id, row.body, row.erased])).toEqual([
      [1, 'alice', 'hi', false],
      [3, 'mallory', '', true],
    ]);
  });
});
