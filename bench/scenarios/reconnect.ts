import { BenchClient, startPhase, type PhaseRecorder } from '../bench-client.js';
import { summarize } from '../metrics.js';
import type { ScenarioClientResult } from '../worker-protocol.js';
import { connectUsers, drain, expectReply, fetchTokens, mapLimit, measurePhase, quiesce, runOpenLoop, userIds, type ScenarioContext } from './common.js';

const now = () => performance.now();

/**
 * A burst of reconnects: 1,000 phones (500 direct conversations) go offline, miss messages that the first user's
 * second device keeps sending, then all reconnect in one burst and sync from their cursors while new messages arrive.
 * Every phone must end up with every message exactly once: through sync, through a push, or both (then dropped).
 */
export async function runReconnect(ctx: ScenarioContext): Promise<ScenarioClientResult> {
  const setupStarted = now();
  const pairs = ctx.quick ? 50 : 500;
  const warmMessages = 2;
  const offlineMessages = 3;
  const reconnectRatePerSecond = 500;
  // Each conversation gets a new message every 10 s during the burst (50 messages/s, as in the 1:1 scenario).
  const liveIntervalMs = 10_000;
  const aUsers = userIds('rc-a', pairs);
  const bUsers = userIds('rc-b', pairs);
  const phoneUsers = [...aUsers, ...bUsers];
  const phones = await connectUsers(ctx, phoneUsers, { label: 'connecting phones' });
  const writers = await connectUsers(ctx, aUsers, { label: 'connecting writers' });
  const dms = await mapLimit(writers, 16, async (writer, i) => {
    const reply = await writer.request({ action: 'createConversation', kind: 'direct', userId: bUsers[i]! });
    return String(expectReply(reply, 'conversation', 'createConversation').conversation.conversationId);
  });
  const sendAll = async (recorder: PhaseRecorder, count: number, recipients: number) =>
    mapLimit(writers, 50, async (writer, i) => {
      for (let n = 0; n < count; n++) await writer.sendMessage(recorder, dms[i]!, recipients);
    });
  const warm = startPhase('warm');
  await sendAll(warm, warmMessages, 2);
  await drain(ctx, warm, 'warm-up');
  await quiesce(ctx, 'setup');
  // The phones' cursors: the warm-up seq in the conversation's epoch (set by its first message).
  const epochs = await mapLimit(writers, 16, async (writer, i) => {
    const reply = await writer.request({ action: 'history', conversationId: dms[i]!, limit: 1 });
    const epoch = (expectReply(reply, 'history', 'history').messages as { epoch?: string }[])[0]?.epoch;
    if (!epoch) throw new Error(`reconnect: no epoch on the warm-up messages of ${dms[i]}`);
    return epoch;
  });

  ctx.progress('phones going offline');
  await Promise.all(phones.map((phone) => phone.close()));
  await quiesce(ctx, 'offline');
  const offline = startPhase('offline');
  ctx.progress('sending to offline phones');
  await sendAll(offline, offlineMessages, 0);
  await quiesce(ctx, 'offline');
  const tokens = await fetchTokens(ctx, phoneUsers);
  const setupSeconds = (now() - setupStarted) / 1000;

  const handshakeMs: number[] = [];
  const syncMs: number[] = [];
  const caughtUpMs: number[] = [];
  const failures: Record<string, number> = {};
  const syncReplies = new Map<number, Record<string, any>>();
  let burstStarted = 0;
  let burstSeconds = 0;
  const dmOf = (index: number) => dms[index % pairs]!;
  const cursorOf = (index: number) => ({ [dmOf(index)]: { seq: warmMessages, epoch: epochs[index % pairs]! } });
  let reconnected: (BenchClient | undefined)[] = [];
  const live = await measurePhase(ctx, 'burst', async (recorder) => {
    burstStarted = now();
    // New messages keep coming while the phones reconnect: some reach a phone by push, some by sync, some both.
    const liveSends = runOpenLoop(
      ctx,
      recorder,
      writers.map((writer, i) => () => ({ client: writer, conversationId: dms[i]!, recipients: 0 })),
      { intervalMs: liveIntervalMs, durationSeconds: 4, label: 'reconnect burst' },
    );
    let caughtUp = 0;
    reconnected = await Promise.all(
      phoneUsers.map(async (user, index) => {
        // As fast as API Gateway admits them (500 new connections per second per account): 1,000 within 2 s.
        await new Promise((resolve) => setTimeout(resolve, (index * 1000) / reconnectRatePerSecond));
        const started = now();
        let phone: BenchClient;
        try {
          phone = await BenchClient.connect(ctx.wsUrl, user, tokens.get(user)!);
        } catch (error) {
          const key = (error as Error).message;
          failures[key] = (failures[key] ?? 0) + 1;
          return undefined;
        }
        handshakeMs.push(now() - started);
        const syncStarted = now();
        const reply = await phone.request({ action: 'sync', cursors: cursorOf(index) });
        syncMs.push(now() - syncStarted);
        if (reply.type !== 'sync') failures[`sync ${reply.code}`] = (failures[`sync ${reply.code}`] ?? 0) + 1;
        else syncReplies.set(index, reply);
        caughtUpMs.push(now() - started);
        ctx.progress('reconnect burst', `caught up ${++caughtUp}/${phoneUsers.length}`);
        return phone;
      }),
    );
    burstSeconds = (now() - burstStarted) / 1000;
    await liveSends;
    // Live messages acked after the last sync can only arrive by push: give them a moment.
    await new Promise((resolve) => setTimeout(resolve, 2000));
  });
  for (const [key, value] of Object.entries(live.errors)) failures[`send ${key}`] = value;

  // Every message each conversation got (warm-up, offline, live): its newest seq.
  const lastSeq = new Map<string, number>();
  await mapLimit(writers, 16, async (writer, i) => {
    const reply = await writer.request({ action: 'history', conversationId: dms[i]!, limit: 1 });
    const newest = (reply.messages as { seq: number }[] | undefined)?.[0];
    if (newest) lastSeq.set(dms[i]!, newest.seq);
  });
  const check = {
    missing: 0,
    syncOrderViolations: 0,
    syncDuplicates: 0,
    pushDuplicates: 0,
    overlap: 0,
    recoveredBySync: 0,
    recoveredByPush: 0,
    syncHasMore: 0,
  };
  phoneUsers.forEach((_user, index) => {
    const phone = reconnected[index];
    const dm = dmOf(index);
    const synced = (
      (syncReplies.get(index)?.conversations ?? []) as { conversation: { conversationId: string }; messages: { seq: number }[]; hasMore: boolean }[]
    ).filter((entry) => entry.conversation.conversationId === dm);
    const syncSeqs = synced.flatMap((entry) => entry.messages.map((message) => message.seq));
    if (synced.some((entry) => entry.hasMore)) check.syncHasMore += 1;
    syncSeqs.forEach((seq, i) => {
      if (i > 0 && seq <= syncSeqs[i - 1]!) check.syncOrderViolations += 1;
    });
    const syncSet = new Set(syncSeqs);
    check.syncDuplicates += syncSeqs.length - syncSet.size;
    const pushSeqs = (phone?.pushed ?? []).filter((push) => push.conversationId === dm).map((push) => push.seq);
    const pushSet = new Set(pushSeqs);
    check.pushDuplicates += pushSeqs.length - pushSet.size;
    for (let seq = warmMessages + 1; seq <= (lastSeq.get(dm) ?? 0); seq++) {
      if (syncSet.has(seq) && pushSet.has(seq)) check.overlap += 1;
      if (syncSet.has(seq)) check.recoveredBySync += 1;
      else if (pushSet.has(seq)) check.recoveredByPush += 1;
      else check.missing += 1;
    }
  });
  await ctx.control({ kind: 'drop-connections' });
  // A broken catch-up must fail the bench, never become numbers in BENCHMARKS.md.
  const syncFailures = Object.keys(failures).filter((key) => key.startsWith('sync'));
  if (syncFailures.length > 0 || check.missing > 0 || check.syncOrderViolations > 0 || check.syncDuplicates > 0 || check.pushDuplicates > 0) {
    throw new Error(`reconnect burst lost its guarantees: ${JSON.stringify({ failures, ...check })}`);
  }
  return {
    name: 'reconnect-1000',
    title: 'Reconnect burst of 1,000 clients',
    description:
      `${phoneUsers.length} phones (${pairs} direct conversations) go offline; the first user's second device sends ${offlineMessages} messages ` +
      `to each conversation; then all phones reconnect in one burst (${reconnectRatePerSecond} per second, API Gateway's account limit) and sync from their cursors while the second devices keep sending.`,
    parameters: {
      phones: phoneUsers.length,
      pairs,
      offlineMessagesPerConversation: offlineMessages,
      liveIntervalMsPerConversation: liveIntervalMs,
      reconnectRatePerSecond,
    },
    phases: { burst: live },
    extra: {
      reconnect: {
        phones: phoneUsers.length,
        reconnected: handshakeMs.length,
        synced: syncReplies.size,
        failures,
        burstSeconds: Math.round(burstSeconds * 100) / 100,
        handshake: summarize(handshakeMs),
        sync: summarize(syncMs),
        caughtUp: summarize(caughtUpMs),
        ...check,
      },
    },
    setupSeconds: Math.round(setupSeconds * 10) / 10,
  };
}
