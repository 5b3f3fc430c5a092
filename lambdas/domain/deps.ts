import type { Limits } from '../shared/config.js';
import type {
  ConnectionPusher,
  ConversationStore,
  FanoutQueue,
  Log,
  MessageStore,
  Metrics,
  PresenceStore,
  UserRateLimiter,
  UserStore,
} from './ports.js';
import type { RateLimiter } from './rate-limiter.js';

/** Everything domain code uses from the outside world, injected so tests can replace any of it. */
export interface Deps {
  conversations: ConversationStore;
  messages: MessageStore;
  presence: PresenceStore;
  /** Settings, blocks, invitations, reaction markers. */
  users: UserStore;
  queue: FanoutQueue;
  pusher: ConnectionPusher;
  limits: Limits;
  /** Per-connection token buckets in container memory (sends, typing). */
  rateLimiter: RateLimiter;
  /** Per-user limits shared by all containers (expensive reads). */
  userRateLimiter: UserRateLimiter;
  /** Structured logs; entries carry the request's keys (or the fanout job's). */
  logger: Log;
  /** Counts and timings, flushed at the end of each invocation. */
  metrics: Metrics;
  now: () => Date;
  newId: () => string;
  sleep: (ms: number) => Promise<void>;
}
