import { describe, expect, it } from 'vitest';
import type { CallStats } from '../../bench/sdk-calls.js';
import { byteStats, callsCell, formatBytes, sumByOperation } from '../../bench/sync-cost.js';
import { replaceSection, replyCell, requestCell, syncMarkers } from '../../bench/sync-report.js';

const stats = (partial: Partial<CallStats>): CallStats => ({
  calls: 0,
  attempts: 0,
  errors: 0,
  readUnits: 0,
  writeUnits: 0,
  items: 0,
  payloadBytes: 0,
  billedUnits: 0,
  totalMs: 0,
  ...partial,
});

describe('sync benchmark helpers', () => {
  it('sums counters of several clients and paths by operation', () => {
    const total = sumByOperation([
      { other: { 'DynamoDB.Query': stats({ calls: 2, readUnits: 1.5 }) }, sync: { 'DynamoDB.BatchGetItem': stats({ calls: 1, items: 100, readUnits: 50 }) } },
      { other: { 'DynamoDB.Query': stats({ calls: 3, readUnits: 2 }) } },
    ]);
    expect(total['DynamoDB.Query']).toMatchObject({ calls: 5, readUnits: 3.5 });
    expect(total['DynamoDB.BatchGetItem']).toMatchObject({ calls: 1, items: 100, readUnits: 50 });
    expect(sumByOperation([])).toEqual({});
  });

  it('measures frames in UTF-8 bytes', () => {
    expect(byteStats(['ab', 'ää', ''])).toEqual({ total: 6, largest: 4 });
    expect(byteStats([])).toEqual({ total: 0, largest: 0 });
  });

  it('formats bytes and call lists', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.00 MB');
    expect(callsCell({ 'DynamoDB.Query': 21, 'DynamoDB.BatchGetItem': 10, 'DynamoDB.GetItem': 0, 'DynamoDB.UpdateItem': 10 })).toBe(
      'Query 21, BatchGetItem 10, UpdateItem 10',
    );
  });

  it('flags a request over the 16 KB request limit and a reply over the 128 KB message limit', () => {
    expect(requestCell({ requestBytes: 16 * 1024, largestRequestBytes: 16 * 1024 })).not.toContain('over');
    expect(requestCell({ requestBytes: 200_000, largestRequestBytes: 16 * 1024 + 1 })).toContain('over the 16 KB request limit');
    expect(replyCell({ replyBytes: 1000, largestReplyBytes: 128 * 1024 })).not.toContain('over');
    expect(replyCell({ replyBytes: 1e6, largestReplyBytes: 128 * 1024 + 1 })).toContain('over the 128 KB message limit');
  });

  it('replaces only the marked section, or appends it', () => {
    const block = `${syncMarkers.start}\nnew\n${syncMarkers.end}`;
    const report = `# R\n\nbefore\n${syncMarkers.start}\nold\n${syncMarkers.end}\nafter\n`;
    expect(replaceSection(report, syncMarkers, block)).toBe(`# R\n\nbefore\n${block}\nafter\n`);
    expect(replaceSection('# R', syncMarkers, block)).toBe(`# R\n${block}\n\n`);
    expect(replaceSection('', syncMarkers, block)).toBe(`${block}\n\n`);
  });
});
