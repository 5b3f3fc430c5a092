import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ArchiveRow, ArchiveStore } from '../domain/ports.js';
import { decodeRows, encodeRows } from './parquet-rows.js';

/** The archive in an S3 bucket (SSE by the bucket's default encryption). */
export class S3ArchiveStore implements ArchiveStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async writeRows(key: string, rows: ArchiveRow[]): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: encodeRows(rows), ContentType: 'application/vnd.apache.parquet' }));
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : [])));
      token = page.NextContinuationToken;
    } while (token);
    return keys.sort();
  }

  async readRows(key: string): Promise<ArchiveRow[]> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return decodeRows(await object.Body!.transformToByteArray());
  }
}

/** The archive in a local folder, in the bucket's layout (the local stack; tests read it back). */
export class DirectoryArchiveStore implements ArchiveStore {
  constructor(private readonly root: string) {}

  async writeRows(key: string, rows: ArchiveRow[]): Promise<void> {
    const path = join(this.root, ...key.split('/'));
    await mkdir(dirname(path), { recursive: true });
    // Written aside and renamed, so a reader never sees half a file (S3 puts are atomic too).
    await writeFile(`${path}.tmp`, encodeRows(rows));
    await rename(`${path}.tmp`, path);
  }

  async list(prefix: string): Promise<string[]> {
    const files = await readdir(this.root, { recursive: true }).catch(() => [] as string[]);
    return files
      .map((file) => relative(this.root, join(this.root, file)).split(sep).join('/'))
      .filter((key) => key.startsWith(prefix) && key.endsWith('.parquet'))
      .sort();
  }

  async readRows(key: string): Promise<ArchiveRow[]> {
    return decodeRows(new Uint8Array(await readFile(join(this.root, ...key.split('/')))));
  }
}
