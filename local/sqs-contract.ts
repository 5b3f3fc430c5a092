import type { SdkClientWithMiddleware } from './faults.js';

/** The characters SQS accepts in a message body (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html). */
const sqsBody = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

interface BatchEntry {
  Id?: string;
  MessageBody?: string;
}

/**
 * Makes the local queue refuse what real SQS refuses: the emulator accepts U+FFFE and U+FFFF (and rejects valid
 * astral characters), so without this a body that fails on AWS would pass every local test. A batch fails only its
 * invalid entries, with `InvalidMessageContents`, as SQS does; a single send throws.
 */
export function installSqsContract(client: SdkClientWithMiddleware): void {
  type Args = { input: { Entries?: BatchEntry[]; MessageBody?: string } };
  type Next = (args: Args) => Promise<{ output: Record<string, unknown>; response?: unknown }>;
  const middleware = (next: Next, context: { commandName?: string }) => async (args: Args) => {
    if (context.commandName === 'SendMessageCommand' && !sqsBody.test(args.input.MessageBody ?? '')) {
      throw Object.assign(new Error('Invalid characters found in the message body'), { name: 'InvalidMessageContents', $fault: 'client' });
    }
    const entries = context.commandName === 'SendMessageBatchCommand' ? (args.input.Entries ?? []) : [];
    const invalid = entries.filter((entry) => !sqsBody.test(entry.MessageBody ?? ''));
    if (invalid.length === 0) return next(args);
    const failed = invalid.map((entry) => ({
      Id: entry.Id,
      SenderFault: true,
      Code: 'InvalidMessageContents',
      Message: 'Invalid characters found in the message body',
    }));
    const valid = entries.filter((entry) => !invalid.includes(entry));
    if (valid.length === 0) return { output: { Successful: [], Failed: failed } };
    const result = await next({ ...args, input: { ...args.input, Entries: valid } });
    return { ...result, output: { ...result.output, Failed: [...((result.output.Failed as unknown[]) ?? []), ...failed] } };
  };
  client.middlewareStack.add(middleware as never, { step: 'initialize', priority: 'low', name: 'parleySqsContract', override: true } as never);
}
