import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ArchiveRow } from '../domain/ports.js';

type ColumnType = 'STRING' | 'INT64' | 'BOOLEAN';

/** The archive's Parquet columns in order (the Athena table in docs/ARCHIVE.md declares the same). */
export const archiveColumns: readonly (readonly [keyof ArchiveRow, ColumnType])[] = [
  ['conversation_id', 'STRING'],
  ['seq', 'INT64'],
  ['epoch', 'STRING'],
  ['kind', 'STRING'],
  ['sender_id', 'STRING'],
  ['client_message_id', 'STRING'],
  ['body', 'STRING'],
  ['created_at', 'STRING'],
  ['edited_at', 'STRING'],
  ['deleted', 'BOOLEAN'],
  ['erased', 'BOOLEAN'],
  ['target_seq', 'INT64'],
  ['emoji', 'STRING'],
  ['op', 'STRING'],
  ['user_ids', 'STRING'],
  ['role', 'STRING'],
  ['title', 'STRING'],
  ['retention_days', 'INT64'],
  ['expires_at', 'INT64'],
  ['change', 'STRING'],
  ['changed_at', 'STRING'],
];

/** Encodes rows as one Parquet file (snappy-compressed columns). */
export function encodeRows(rows: ArchiveRow[]): Uint8Array {
  const columnData = archiveColumns.map(([name, type]) => ({
    name,
    type,
    // INT64 columns take bigints.
    data: rows.map((row) => {
      const value = row[name];
      return type === 'INT64' && value !== null ? BigInt(value as number) : value;
    }),
  }));
  return new Uint8Array(parquetWriteBuffer({ columnData }));
}

/** Decodes a Parquet file written by `encodeRows`. */
export async function decodeRows(bytes: Uint8Array): Promise<ArchiveRow[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const objects = (await parquetReadObjects({ file })) as Record<string, unknown>[];
  return objects.map((object) => {
    const row: Record<string, unknown> = {};
    for (const [name, type] of archiveColumns) {
      const value = object[name] ?? null;
      row[name] = type === 'INT64' && value !== null ? Number(value) : value;
    }
    return row as unknown as ArchiveRow;
  });
}
