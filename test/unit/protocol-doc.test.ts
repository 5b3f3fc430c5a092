/**
 * PROTOCOL.md against the protocol module: every action, reply type and pushed event in the schemas has a JSON example
 * in a ```json block of PROTOCOL.md, and every example there validates against the schema it names (by `action`,
 * by `type`, or for the Objects section by its bold label).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actions, eventTypes, replyTypes, type ActionName } from '../../protocol/actions.js';
import { defaultWireLimits } from '../../protocol/limits.js';
import { conversationSchema, errorFrameSchema, eventSchemas, messageSchema, replySchemas } from '../../protocol/frames.js';
import { requestFrameSchema } from '../../protocol/schemas.js';

const protocolText = readFileSync(new URL('../../PROTOCOL.md', import.meta.url), 'utf8');

/** A JSON value found in a code block, with its line in PROTOCOL.md and the bold label above its block. */
interface Example {
  line: number;
  label: string | undefined;
  text: string;
  value?: unknown;
  parseError?: string;
}

/** Splits a block into its top-level JSON values (a block may hold one value over several lines, or one per line). */
function splitValues(block: string): { offset: number; text: string }[] {
  const values: { offset: number; text: string }[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < block.length; i++) {
    const c = block[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) values.push({ offset: start, text: block.slice(start, i + 1) });
    }
  }
  return values;
}

/** Every JSON value of every ```json block in a markdown text. */
function jsonExamples(markdown: string): Example[] {
  const examples: Example[] = [];
  const fence = /^```json\n([\s\S]*?)^```/gm;
  for (let match = fence.exec(markdown); match; match = fence.exec(markdown)) {
    const blockStart = match.index + '```json\n'.length;
    const before = markdown.slice(0, match.index).trimEnd().split('\n').at(-1) ?? '';
    const label = /^\*\*(\w+)\*\*$/.exec(before)?.[1];
    for (const { offset, text } of splitValues(match[1] ?? '')) {
      const line = markdown.slice(0, blockStart + offset).split('\n').length;
      try {
        examples.push({ line, label, text, value: JSON.parse(text) });
      } catch (error) {
        examples.push({ line, label, text, parseError: (error as Error).message });
      }
    }
  }
  return examples;
}

const objectSchemas: Record<string, { safeParse(value: unknown): { success: boolean; error?: { issues: unknown[] } } }> = {
  Message: messageSchema,
  Conversation: conversationSchema,
};

/** What an example documents (`request:send`, `reply:ack`, `event:typing`, `object:Message`), or why it is invalid. */
function checkExample(example: Example): { names?: string; problem?: string } {
  if (example.parseError) return { problem: `not JSON (${example.parseError})` };
  const value = example.value as Record<string, unknown>;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'not a JSON object' };
  const issues = (result: { success: boolean; error?: { issues: unknown[] } }) =>
    result.success
      ? undefined
      : JSON.stringify(result.error?.issues.map((issue) => issue as { path: unknown; message: unknown }).map(({ path, message }) => ({ path, message })));
  if ('action' in value) {
    const action = value.action as ActionName;
    if (!(actions as readonly unknown[]).includes(action)) return { problem: `unknown action ${String(value.action)}` };
    const problem = issues(requestFrameSchema(action, defaultWireLimits).safeParse(value));
    return { names: `request:${action}`, problem };
  }
  if ('type' in value) {
    const type = value.type as string;
    if (type === 'error') return { names: 'reply:error', problem: issues(errorFrameSchema.safeParse(value)) };
    if ('requestId' in value) {
      const candidates = actions.filter((action) => replyTypes[action] === type);
      if (candidates.length === 0) return { problem: `no action replies with type ${type}` };
      const results = candidates.map((action) => replySchemas[action].safeParse(value));
      return { names: `reply:${type}`, problem: results.some((r) => r.success) ? undefined : issues(results[0]!) };
    }
    if (!(eventTypes as readonly string[]).includes(type)) return { problem: `no pushed event has type ${type}` };
    return { names: `event:${type}`, problem: issues(eventSchemas[type as keyof typeof eventSchemas].safeParse(value)) };
  }
  const schema = example.label === undefined ? undefined : objectSchemas[example.label];
  if (!schema) return { problem: 'names no action or type (and no object label such as **Message** above its block)' };
  return { names: `object:${example.label}`, problem: issues(schema.safeParse(value)) };
}

describe('PROTOCOL.md examples', () => {
  const examples = jsonExamples(protocolText);

  it('finds the examples', () => {
    // Guards the parser itself: a broken fence regex would make every other check vacuous.
    expect(examples.length).toBeGreaterThan(actions.length);
  });

  it('validates every JSON example against the schema it names', () => {
    const invalid = examples
      .map((example) => ({ example, ...checkExample(example) }))
      .filter(({ problem }) => problem !== undefined)
      .map(({ example, names, problem }) => `PROTOCOL.md:${example.line} ${names ?? ''} ${example.text.slice(0, 80)}\n    ${problem}`);
    expect(invalid, `invalid examples:\n${invalid.join('\n')}`).toEqual([]);
  });

  it('documents every action, reply type and pushed event with a valid example', () => {
    const valid = new Set(
      examples
        .map(checkExample)
        .filter(({ problem }) => problem === undefined)
        .map(({ names }) => names),
    );
    const wanted = [
      ...actions.map((action) => `request:${action}`),
      ...new Set([...Object.values(replyTypes).map((type) => `reply:${type}`), 'reply:error']),
      ...eventTypes.map((type) => `event:${type}`),
    ];
    const missing = wanted.filter((name) => !valid.has(name));
    expect(missing, `no valid example in PROTOCOL.md for: ${missing.join(', ')}`).toEqual([]);
  });
});

describe('the example checker', () => {
  // The checker must be able to fail: drifted examples are reported, not silently accepted.
  const check = (text: string, label?: string) => checkExample({ line: 1, label, text, value: JSON.parse(text) });

  it('reports an invalid request, an unknown field in a reply, and an unknown event', () => {
    expect(check('{"action": "send", "requestId": "r1", "conversationId": "dm_abc", "clientMessageId": "m1"}').problem).toContain('body');
    expect(check('{"type": "pong", "requestId": "r1", "serverTime": "t", "extra": 1}').problem).toContain('extra');
    expect(check('{"type": "shout", "text": "hi"}').problem).toMatch(/no pushed event/);
    expect(check('{"seq": 1}').problem).toMatch(/names no action/);
  });

  it('accepts a valid request, reply, event and object', () => {
    expect(check('{"action": "heartbeat", "requestId": "r1"}')).toEqual({ names: 'request:heartbeat', problem: undefined });
    expect(check('{"type": "ok", "requestId": "r1"}')).toEqual({ names: 'reply:ok', problem: undefined });
    expect(check('{"type": "typing", "conversationId": "dm_a", "userId": "bob", "state": "stop"}')).toEqual({ names: 'event:typing', problem: undefined });
    expect(
      check('{"conversationId": "dm_a", "seq": 1, "senderId": "a", "clientMessageId": "m", "body": "x", "createdAt": "t"}', 'Message').problem,
    ).toBeUndefined();
  });

  it('reads several values from one block and reports text that is not JSON', () => {
    const found = jsonExamples('intro\n**Message**\n```json\n{"a": "}"}\n{"b": [1,\n 2]}\n{"c": ...}\n```\n');
    expect(found.map((example) => [example.line, example.label, example.value])).toEqual([
      [4, 'Message', { a: '}' }],
      [5, 'Message', { b: [1, 2] }],
      [7, 'Message', undefined],
    ]);
    expect(found[2]?.parseError).toBeDefined();
  });
});
