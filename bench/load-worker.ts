import { parentPort } from 'node:worker_threads';
import type { ScenarioContext } from './scenarios/common.js';
import { runDirect } from './scenarios/direct.js';
import { runGroups } from './scenarios/groups.js';
import { runHotGroup } from './scenarios/hot-group.js';
import { runLargeGroup } from './scenarios/large-group.js';
import { runReconnect } from './scenarios/reconnect.js';
import type { ControlAction, FromWorker, ScenarioClientResult, ScenarioName, ToWorker } from './worker-protocol.js';

/**
 * The load generator runs in a worker thread: its WebSocket clients get their own event loop (and the second core),
 * so receive timestamps are not held up behind handler work on the stack's thread.
 */
const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);

const scenarios: Record<ScenarioName, (ctx: ScenarioContext) => Promise<ScenarioClientResult>> = {
  'direct-1000': runDirect,
  'groups-130': runGroups,
  'group-1000': runLargeGroup,
  'reconnect-1000': runReconnect,
  'hot-group': runHotGroup,
};

let nextControlId = 1;
const waiting = new Map<number, (value: unknown) => void>();

port.on('message', (message: ToWorker) => {
  if (message.kind === 'control-done') {
    waiting.get(message.id)?.(message.value);
    waiting.delete(message.id);
    return;
  }
  const ctx: ScenarioContext = {
    wsUrl: message.wsUrl,
    httpUrl: message.httpUrl,
    quick: message.quick,
    progress: (phase, detail = '') => post({ kind: 'progress', phase, detail }),
    log: (line) => post({ kind: 'log', line }),
    control: (action: ControlAction) =>
      new Promise((resolve) => {
        const id = nextControlId++;
        waiting.set(id, resolve);
        post({ kind: 'control', id, action });
      }),
  };
  scenarios[message.scenario](ctx).then(
    (result) => post({ kind: 'result', result }),
    (error: unknown) => post({ kind: 'error', message: (error as Error)?.stack ?? String(error) }),
  );
});
