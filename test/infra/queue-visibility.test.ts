import { afterAll, describe, expect, it } from 'vitest';
import { functions, queues, visibilityTimeoutPerConsumerTimeout, type QueueDefinition, type QueueName } from '../../lib/definitions.js';
import { logicalId, synthesize } from './synth.js';

// AWS: an SQS event source's queue needs a visibility timeout of at least six times its function's timeout.
// Checked on the synthesized template, i.e. on what `cdk deploy` ships, for every queue.
const { stack, template, cleanup } = synthesize({}, { bundle: false });
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
const queueDefinitions = Object.entries(queues) as [QueueName, QueueDefinition][];

describe('queue visibility timeouts', () => {
  afterAll(cleanup);

  it.each(queueDefinitions)('%s: at least six times the timeout of the function its event source mapping invokes', (name, definition) => {
    const queueId = logicalId(stack.node.findChild('Queues').node.findChild(name));
    const visibility = resources[queueId]!.Properties.VisibilityTimeout as number;
    const consumers = Object.values(resources).filter(
      (resource) => resource.Type === 'AWS::Lambda::EventSourceMapping' && JSON.stringify(resource.Properties.EventSourceArn).includes(`"${queueId}"`),
    );
    expect(consumers, `${name} has one consumer`).toHaveLength(1);
    const functionId = (consumers[0]!.Properties.FunctionName as { Ref: string }).Ref;
    const timeout = resources[functionId]!.Properties.Timeout as number;
    expect(timeout).toBe(functions[definition.consumer].timeoutSeconds);
    expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
    expect(visibility).toBe(visibilityTimeoutPerConsumerTimeout * timeout);
  });
});
