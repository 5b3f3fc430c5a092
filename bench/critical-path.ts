/**
 * A model of the sequential AWS calls between a `send` and a recipient's receive, priced in published (or, where AWS
 * publishes none, stated) per-call latencies. Each step is a log-normal distribution fitted to its p50 and p99; a
 * seeded Monte Carlo sums them, with the fanout's 32 parallel PostToConnection workers simulated call by call.
 */

import { seededRandom } from '../client/testing/harness.js';

/** One sequential step of the path. */
export interface Step {
  name: string;
  p50: number;
  p99: number;
  source: string;
}

/** Per-call latencies (ms) and where they come from. */
export const steps = {
  ingress: {
    name: 'API Gateway WebSocket: frame in, route selection, Lambda integration',
    p50: 10,
    p99: 40,
    source: 'assumption: AWS publishes no routing-overhead figure for WebSocket APIs (IntegrationLatency excludes it)',
  },
  invoke: {
    name: 'Lambda warm invoke overhead',
    p50: 2,
    p99: 10,
    source: 'assumption for a warm arm64 container (AWS Compute Blog, "Operating Lambda: performance optimization", gives no number)',
  },
  getItem: {
    name: 'DynamoDB GetItem (conversation and head item, consistent, in parallel)',
    p50: 4,
    p99: 15,
    source:
      'DynamoDB "single-digit millisecond" (aws.amazon.com/dynamodb; AWS Database Blog "Understanding Amazon DynamoDB latency"); p99 10-20 ms (dynobase.dev)',
  },
  transactWrite: {
    name: 'DynamoDB writes of a send (claim PutItem, counter UpdateItem, message PutItem, in sequence)',
    p50: 15,
    p99: 40,
    source:
      'three single-item writes of about 5 ms (p99 about 15 ms) each, one after the other (DynamoDB "single-digit millisecond"; dynobase.dev); the p99 of the sum is below the sum of the p99s',
  },
  batchGet: {
    name: 'DynamoDB BatchGetItem (presence, <= 100 keys per call, calls in parallel)',
    p50: 5,
    p99: 20,
    source: 'as GetItem, with the slowest of the batch',
  },
  scan: {
    name: 'DynamoDB Scan of the connections table (one 1 MB page)',
    p50: 20,
    p99: 60,
    source: 'assumption: a full 1 MB page read is several times a single-item read',
  },
  sqsSend: { name: 'SQS SendMessageBatch', p50: 6, p99: 25, source: 'assumption (single-digit ms standard-queue API call)' },
  sqsToLambda: {
    name: 'SQS -> Lambda (event source mapping, standard queue)',
    p50: 16,
    p99: 105,
    source: 'published SQS->Lambda latency, docs/DESIGN.md',
  },
  post: {
    name: 'PostToConnection until the frame is on the recipient socket',
    p50: 10,
    p99: 50,
    source: 'assumption: AWS publishes none; one HTTPS call to the @connections endpoint in-region',
  },
} satisfies Record<string, Step>;

/** The path a message takes for a conversation of `members` members (Parley's inline limit is 150). */
export function pathFor(members: number, inlineMax = 150): Step[] {
  const store = [steps.ingress, steps.invoke, steps.getItem, steps.transactWrite];
  return members <= inlineMax ? [...store, steps.batchGet] : [...store, steps.sqsSend, steps.sqsToLambda, steps.invoke, steps.batchGet];
}

/** A sampler for a log-normal with this p50 and p99. */
function logNormal(step: Pick<Step, 'p50' | 'p99'>, rand: () => number): () => number {
  const mu = Math.log(step.p50);
  const sigma = Math.log(step.p99 / step.p50) / 2.3263;
  return () => {
    // Box-Muller.
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return Math.exp(mu + sigma * z);
  };
}

/** Modeled latency from send to receive over all recipients. */
export interface PathModel {
  members: number;
  steps: Step[];
  /** Pushes per fanout invocation and their concurrency. */
  pushesPerInvocation: number;
  sumP50: number;
  /** Sum of the steps' p99: an upper bound (every step slow at once). */
  sumP99: number;
  p50: number;
  p99: number;
}

/**
 * Simulates messages to a conversation of `members` members (each with one connection): the sequential steps,
 * then PostToConnection from 32 workers per invocation (chunks of 100 recipients above the inline limit), and returns
 * the distribution of the recipients' receive times.
 */
export function modelPath(
  members: number,
  options: { trials?: number; seed?: number; concurrency?: number; chunkSize?: number; inlineMax?: number; path?: Step[] } = {},
): PathModel {
  // About 400,000 simulated receives whatever the group size: enough for a stable p99, fast enough for a unit test.
  const trials = options.trials ?? Math.min(4000, Math.max(200, Math.floor(400_000 / Math.max(1, members - 1))));
  const concurrency = options.concurrency ?? 32;
  const inlineMax = options.inlineMax ?? 150;
  const chunkSize = members <= inlineMax ? Math.max(1, members - 1) : (options.chunkSize ?? 100);
  const path = options.path ?? pathFor(members, inlineMax);
  // Seeded, so the report does not change between runs of the model.
  const rand = seededRandom(options.seed ?? 42);
  const samplers = path.map((step) => logNormal(step, rand));
  const post = logNormal(steps.post, rand);
  const recipients = Math.max(1, members - 1);
  const receive: number[] = [];
  for (let trial = 0; trial < trials; trial++) {
    // Queued chunks run in parallel invocations, each with its own SQS hop and reads; inline there is one chunk.
    const shared = members <= inlineMax ? samplers.reduce((sum, sample) => sum + sample(), 0) : samplers.slice(0, 5).reduce((sum, sample) => sum + sample(), 0);
    for (let start = 0; start < recipients; start += chunkSize) {
      const size = Math.min(chunkSize, recipients - start);
      const chunkStart = members <= inlineMax ? shared : shared + samplers.slice(5).reduce((sum, sample) => sum + sample(), 0);
      const workers = Array.from({ length: Math.min(concurrency, size) }, () => chunkStart);
      for (let i = 0; i < size; i++) {
        // The next recipient goes to the worker that frees up first.
        let best = 0;
        for (let w = 1; w < workers.length; w++) if (workers[w]! < workers[best]!) best = w;
        workers[best]! += post();
        receive.push(workers[best]!);
      }
    }
  }
  receive.sort((a, b) => a - b);
  const at = (q: number) => Math.round(receive[Math.min(receive.length - 1, Math.floor(q * receive.length))]! * 10) / 10;
  return {
    members,
    steps: [...path, steps.post],
    pushesPerInvocation: chunkSize,
    sumP50: [...path, steps.post].reduce((sum, step) => sum + step.p50, 0),
    sumP99: [...path, steps.post].reduce((sum, step) => sum + step.p99, 0),
    p50: at(0.5),
    p99: at(0.99),
  };
}

/** The naive design: store, Scan every connection, then post to each recipient one after the other. */
export function modelNaivePath(members: number): PathModel {
  return modelPath(members, {
    concurrency: 1,
    inlineMax: Number.MAX_SAFE_INTEGER,
    path: [steps.ingress, steps.invoke, steps.getItem, steps.transactWrite, steps.scan],
  });
}

/**
 * Modeled p50 duration (ms) of the Lambda invocations one message causes, from the steps' p50s: what AWS would bill,
 * free of the local machine's queueing. Parley: the send handler (read, transaction, presence read and inline posts
 * 32 at a time, or the enqueue) and one fanout invocation per batch of up to 10 queued chunks. Naive: read,
 * transaction, Scan, then every post in turn.
 */
export function modeledLambdaMs(members: number, design: 'parley' | 'naive', inlineMax = 150, concurrency = 32, chunkSize = 100) {
  const recipients = Math.max(1, members - 1);
  const store = steps.getItem.p50 + steps.transactWrite.p50;
  if (design === 'naive') return { sendMs: store + steps.scan.p50 + recipients * steps.post.p50, fanoutMs: 0, fanoutInvocations: 0 };
  if (members <= inlineMax) {
    return { sendMs: store + steps.batchGet.p50 + Math.ceil(recipients / concurrency) * steps.post.p50, fanoutMs: 0, fanoutInvocations: 0 };
  }
  const chunks = Math.ceil(recipients / chunkSize);
  return {
    sendMs: store + steps.sqsSend.p50,
    fanoutMs: steps.batchGet.p50 + Math.ceil(Math.min(chunkSize, recipients) / concurrency) * steps.post.p50,
    fanoutInvocations: Math.ceil(chunks / 10),
  };
}
