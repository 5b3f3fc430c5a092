import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  connectionsPerDevicePerDay,
  defaultTraffic,
  heartbeatUsage,
  messageUsage,
  monthlyCost,
  monthlyEvents,
  parleyTransportCost,
  peakEventsPerSecond,
  presenceContacts,
  presenceTransitionUsage,
  quotaChecks,
  roundUpForRequest,
  storageAt,
  tableClassComparison,
  transportTraffic,
  vendorQuotes,
  type Traffic,
} from '../../bench/capacity-model.js';
import { apiGatewayMessagesCost, lambdaArmDurationCost, tieredCost } from '../../bench/cost-model.js';
import { capacityMarkers, capacitySection, updateCapacitySection } from '../../bench/report.js';

const at = (users: number, overrides: Partial<Traffic> = {}): Traffic => ({ ...defaultTraffic, users, ...overrides });
const GB = 1024 ** 3;

describe('tiered prices', () => {
  it('charges each tier only for the units inside it', () => {
    expect(
      tieredCost(15, [
        { upTo: 10, price: 1 },
        { upTo: Infinity, price: 0.5 },
      ]),
    ).toBe(12.5);
    expect(
      tieredCost(5, [
        { upTo: 10, price: 1 },
        { upTo: Infinity, price: 0.5 },
      ]),
    ).toBe(5);
    // API Gateway: $1.00/M for the first billion, $0.80/M above.
    expect(apiGatewayMessagesCost(1e9)).toBeCloseTo(1000, 6);
    expect(apiGatewayMessagesCost(1.5e9)).toBeCloseTo(1000 + 400, 6);
    // Lambda arm64: 7.5 B GB-s at the first rate, 11.25 B at the second, the rest at the third.
    expect(lambdaArmDurationCost(20e9)).toBeCloseTo(7.5e9 * 0.0000133334 + 11.25e9 * 0.0000120001 + 1.25e9 * 0.0000106667, 3);
  });
});

describe('usage per event', () => {
  it('prices a 1:1 message with its delivered receipts', () => {
    const usage = messageUsage(2, defaultTraffic);
    // Recipient connections: (1 other member × 1.5 devices + 0.5 other own device) × 80% online = 1.6.
    expect(usage.posts).toBeCloseTo(1.6 + 1.6 * 1.2, 10);
    // 1 in + 1 ack + 1.6 pushes; each of the 1.6 receiving devices acks (in + reply) and the receipt reaches 1.2 connections.
    expect(usage.apiGatewayMessages).toBeCloseTo(1 + 1 + 1.6 + 1.6 * (2 + 1.2), 10);
    // A 1,024 B body plus 200 B of attributes is a 2 KB item: counter update on the head (1) + message put (2) + claim (1).
    expect(usage.writeUnits.messages).toBe(3);
    expect(usage.writeUnits.idempotency).toBe(1);
    expect(usage.writeUnits.members).toBeCloseTo(1.6, 10);
    expect(usage.readUnits.messages).toBe(1);
    expect(usage.readUnits.presence).toBeCloseTo(1 + 1.6, 10);
    expect(usage.sqsRequests).toBe(0);
  });

  it('prices a message to a 130-member group pushed inline', () => {
    const usage = messageUsage(130, defaultTraffic);
    const deliveries = (129 * 1.5 + 0.5) * 0.8;
    expect(usage.posts).toBeCloseTo(deliveries, 10);
    expect(usage.apiGatewayMessages).toBeCloseTo(2 + deliveries, 10);
    // No receipts above 32 members. The group's connection index: 100 members' 120 online connections × 110 B = 13.2 KB
    // is 4 RRU, the other 30 members' 36 connections 1 RRU; no presence reads. The 5.4 KB conversation item is 2 RRU.
    expect(usage.readUnits.groupConnections).toBe(5);
    expect(usage.readUnits.presence).toBe(0);
    expect(usage.readUnits.conversations).toBe(2);
    expect(usage.writeUnits.members).toBe(0);
    // GetItem 4 + three writes 15 + BatchGetItem 5 + ceil(129 / 32) = 5 rounds of 10 ms posts = 74 ms at 512 MB.
    expect(usage.lambdaSeconds.actions).toBeCloseTo(0.074, 10);
    expect(usage.lambdaRequests.fanout).toBe(0);
  });

  it('queues groups above 150 members and bills the message item by its size', () => {
    const large = messageUsage(1000, defaultTraffic);
    // 999 recipients: 10 jobs of 100, one batch: send, receive, delete.
    expect(large.sqsRequests).toBe(3);
    expect(large.lambdaRequests.fanout).toBe(1);
    // An 800 B body stays within 1 KB with its attributes: counter 1 + message 1 WRU.
    expect(messageUsage(2, { ...defaultTraffic, messageBytes: 800 }).writeUnits.messages).toBe(2);
  });

  it('prices heartbeats and presence transitions', () => {
    const heartbeat = heartbeatUsage();
    expect(heartbeat.apiGatewayMessages).toBe(2);
    expect(heartbeat.writeUnits.presence).toBe(1);
    expect(presenceContacts(defaultTraffic)).toBe(2 * 129 + 20);
    expect(presenceContacts({ ...defaultTraffic, presencePushMaxMembers: 32 })).toBe(20);
    const transition = presenceTransitionUsage(defaultTraffic);
    expect(transition.posts).toBeCloseTo(278 * 1.5 * 0.8, 10);
    // Memberships (22 × 150 B: one 4 KB unit, eventually consistent), 2 group items of 5.4 KB and 20 small ones,
    // the user's own presence item and the 278 contacts'.
    expect(transition.readUnits.members).toBe(0.5);
    expect(transition.readUnits.conversations).toBe(2 * 0.5 * 2 + 20 * 0.5);
    expect(transition.readUnits.presence).toBe(0.5 + 139);
    // The job (1 send, a tenth of a receive and of a delete), and 278 contacts > 150: 3 chunks queued in one batch.
    expect(transition.sqsRequests).toBeCloseTo(1.2 + 3, 10);
  });
});

describe('events of a month and of the peak second', () => {
  it('counts a month at 100k users', () => {
    const events = monthlyEvents(at(100_000));
    expect(events.directMessages + events.groupMessages).toBe(60e6);
    expect(connectionsPerDevicePerDay(defaultTraffic)).toBe(4);
    // 150,000 devices × 8 h × 15 heartbeats an hour × 30 days.
    expect(events.heartbeats).toBe(540e6);
    expect(events.connections).toBe(150_000 * 4 * 30);
    expect(events.connectionMinutes).toBe(150_000 * 480 * 30);
    expect(events.presenceTransitions).toBe(24e6);
  });

  it('counts the peak second at 1M users', () => {
    const peak = peakEventsPerSecond(at(1_000_000));
    expect(peak.directMessages + peak.groupMessages).toBeCloseTo((1e6 * 20 * 0.1) / 3600, 6);
    // 1.2 M connections open, each lasting 2 h, heartbeating every 4 min.
    expect(peak.connections).toBeCloseTo(1.2e6 / 7200, 6);
    expect(peak.heartbeats).toBeCloseTo(1.2e6 / 240, 6);
  });
});

describe('monthly cost', () => {
  it('prices connection minutes and totals the services', () => {
    const cost = monthlyCost(at(1_000_000));
    expect(cost.apiGatewayConnectionMinutes).toBeCloseTo(((1e6 * 1.5 * 480 * 30) / 1e6) * 0.25, 6);
    const { total, ...services } = cost;
    expect(total).toBeCloseTo(
      Object.values(services).reduce((n, v) => n + v, 0),
      6,
    );
    // Linear in users, apart from the volume tiers.
    expect(monthlyCost(at(200_000)).total).toBeGreaterThan(monthlyCost(at(100_000)).total * 1.9);
  });

  it('prices the same traffic at Parley and at the vendors', () => {
    const t = at(100_000);
    const x = transportTraffic(t);
    expect(x.publishes).toBe(60e6);
    expect(x.deliveries).toBeCloseTo(30e6 * 1.6 + 30e6 * 155.2, 0);
    // 60 M sends + acks and 4.704 B pushes: 1 B at $1/M, 3.824 B at $0.80/M; 2.16 B connection minutes at $0.25/M.
    expect(parleyTransportCost(t)).toBeCloseTo(1000 + 3824 * 0.8 + 540, 3);
    const quotes = vendorQuotes(t);
    const pubnub = quotes.find((q) => q.vendor.startsWith('PubNub'))!;
    expect(pubnub.listPrice).toBeCloseTo(60e6 * 0.000123 + 4.704e9 * 0.000033, 0);
    expect(pubnub.published).toBe(false);
    const pusher = quotes.find((q) => q.vendor.startsWith('Pusher'))!;
    expect(pusher.published).toBe(false);
    expect(pusher.listPrice).toBeUndefined();
    const appsync = quotes.find((q) => q.vendor.includes('AppSync'))!;
    expect(appsync.listPrice).toBeCloseTo((60e6 + 4.704e9 + 2 * 18e6) / 1e6 + (2.16e9 / 1e6) * 0.08, 3);
  });
});

describe('quotas', () => {
  it('rounds quota requests up to two significant digits', () => {
    expect(roundUpForRequest(17_733)).toBe(18_000);
    expect(roundUpForRequest(123)).toBe(130);
    expect(roundUpForRequest(2_500)).toBe(2_500);
  });

  it('finds what binds at each scale', () => {
    const byName = (users: number) => Object.fromEntries(quotaChecks(at(users)).map((q) => [q.label, q]));
    const small = byName(100_000);
    // 12,000 + presence pushes: more than 10,000 PostToConnection calls a second already at 100k users.
    expect(small['@connections calls']!.binds).toBe(true);
    expect(small['new connections per second']!.binds).toBe(false);
    expect(small['Lambda concurrency']!.binds).toBe(false);
    const large = byName(10_000_000);
    expect(large['new connections per second']!.peak).toBeCloseTo(12e6 / 7200, 6);
    expect(large['new connections per second']!.request).toBe(2_500);
    expect(large['concurrent connections']!.binds).toBe(true);
    expect(large['concurrent connections']!.request).toBeUndefined();
    expect(large['a conversation partition']!.binds).toBe(false);
  });
});

describe('storage', () => {
  it('keeps the retention hot, archives every item as it is stored, and prices the archive’s requests', () => {
    const t = at(1_000_000);
    const messages = 600e6;
    const growth = (messages * 1224) / GB;
    const retained = storageAt(t, 12, 90);
    expect(retained.growthGbPerMonth).toBeCloseTo(growth, 6);
    expect(retained.hotGb).toBeCloseTo(3 * growth, 6);
    expect(retained.dynamoDbStandard).toBeCloseTo(3 * growth * 0.25, 6);
    expect(retained.dynamoDbIa).toBeCloseTo(3 * growth * 0.1, 6);
    // The archive holds all twelve months, half the item size as Parquet, in S3 Standard.
    expect(retained.archiveGb).toBeCloseTo(12 * growth * 0.5, 6);
    expect(retained.s3Storage).toBeCloseTo(12 * growth * 0.5 * 0.023, 6);
    // Half a PUT per message at $0.005 per 1,000; the consumer: a request per 1,000 records and 2 s at 1 GB each.
    const batches = messages / 1000;
    const consumer = (batches / 1e6) * 0.2 + batches * 2 * 0.0000133334;
    expect(retained.archiveRequests).toBeCloseTo((messages * 0.5 * 0.005) / 1000 + consumer, 2);
    expect(retained.s3).toBeCloseTo(retained.s3Storage + retained.archiveRequests, 6);
    const forever = storageAt(t, 12, null);
    expect(forever.hotGb).toBeCloseTo(12 * growth, 6);
    expect(forever.archiveGb).toBeCloseTo(retained.archiveGb, 6);
    // Without the archive nothing goes to S3.
    expect(storageAt(t, 12, 90, false)).toMatchObject({ archiveGb: 0, s3: 0 });
    // Ten times the users, ten times every part.
    expect(storageAt(at(10_000_000), 12, 90).s3).toBeCloseTo(10 * retained.s3, 2);
  });

  it('puts the table-class break-even at the same months of data whatever the scale', () => {
    // Per message: 3 WRU at +$0.15625/M; 2.5 RRU (head item, and 5 sync units per connection, 0.3 connections per message)
    // at +$0.03125/M; against $0.15 per GB-month saved on a 1,224 B item.
    const expected = (3 * 0.15625 + 2.5 * 0.03125) / 1e6 / ((1224 / GB) * 0.15);
    expect(tableClassComparison(at(100_000), 12, 90).breakEvenMonths).toBeCloseTo(expected, 6);
    expect(tableClassComparison(at(10_000_000), 12, 90).breakEvenMonths).toBeCloseTo(expected, 6);
    expect(tableClassComparison(at(1_000_000), 12, 90).cheaper).toBe('Standard');
    expect(tableClassComparison(at(1_000_000), 12, null).cheaper).toBe('Standard-IA');
  });
});

describe('capacity section of the report', () => {
  it('replaces only its own section, and a second run changes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-capacity-'));
    const path = join(dir, 'BENCHMARKS.md');
    await writeFile(path, `# Report\n\nmeasured\n\n${capacityMarkers.start}\nold\n${capacityMarkers.end}\n\ntail\n`);
    await updateCapacitySection(path);
    const once = await readFile(path, 'utf8');
    expect(once.startsWith('# Report\n\nmeasured\n\n')).toBe(true);
    expect(once.endsWith('\n\ntail\n')).toBe(true);
    expect(once).not.toContain('\nold\n');
    expect(once).toContain(capacitySection().join('\n'));
    await updateCapacitySection(path);
    expect(await readFile(path, 'utf8')).toBe(once);
  });

  it('appends the section to a report that has none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-capacity-'));
    const path = join(dir, 'BENCHMARKS.md');
    await writeFile(path, '# Report\n\nlast line\n\n');
    await updateCapacitySection(path);
    expect(await readFile(path, 'utf8')).toBe(`# Report\n\nlast line\n\n${capacitySection().join('\n')}\n\n`);
  });
});
