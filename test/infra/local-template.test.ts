/**
 * The local stack builds its tables, queues, event source mappings and routes from the synthesized template
 * (local/template.ts). These readers must see in the template exactly what lib/definitions.ts put there, and a change
 * made to the template must reach them.
 */
import { describe, expect, it } from 'vitest';
import { queues, routeSelectionExpression, routes, streamSources, tables, type TableName } from '../../lib/definitions.js';
import { queueSettings, sqsEventSources, streamEventSources, synthesizeStack, tableSettings, webSocketApiSettings } from '../../local/template.js';

const synthesized = synthesizeStack('local', { archive: true });

describe('the local stack reads the template', () => {
  it('creates each table with the keys, indexes, stream and TTL the template deploys', () => {
    const settings = tableSettings(synthesized);
    expect(Object.keys(settings).sort()).toEqual(Object.keys(tables).sort());
    for (const [name, def] of Object.entries(tables) as [TableName, (typeof tables)[TableName]][]) {
      const table = settings[name];
      expect(table.keySchema, name).toEqual([
        { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
        ...('sortKey' in def ? [{ AttributeName: def.sortKey.name, KeyType: 'RANGE' }] : []),
      ]);
      expect(table.timeToLiveAttribute, name).toBe('timeToLiveAttribute' in def ? def.timeToLiveAttribute : undefined);
      expect(table.streamViewType, name).toBe('stream' in def ? def.stream : undefined);
      expect(
        table.globalSecondaryIndexes?.map((index) => index.IndexName),
        name,
      ).toEqual('globalSecondaryIndexes' in def ? def.globalSecondaryIndexes.map((index) => index.indexName) : undefined);
    }
  });

  it('creates the fanout queue with its visibility timeout and the redrive to its dead-letter queue', () => {
    const fanout = queueSettings(synthesized).fanout;
    expect(fanout.attributes.VisibilityTimeout).toBe(String(queues.fanout.visibilityTimeoutSeconds));
    expect(fanout.deadLetterQueue).toEqual({
      attributes: { MessageRetentionPeriod: String(queues.fanout.dlqRetentionDays * 86400) },
      maxReceiveCount: queues.fanout.maxReceiveCount,
    });
    expect(sqsEventSources(synthesized).fanout).toEqual({
      consumer: 'fanout',
      batchSize: queues.fanout.batchSize,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
      maximumConcurrency: queues.fanout.maximumConcurrency,
    });
  });

  it('routes like the deployed WebSocket API: selection expression, functions, route responses, authorizer', () => {
    const api = webSocketApiSettings(synthesized);
    expect(api.routeSelectionExpression).toBe(routeSelectionExpression);
    expect(api.authorizer).toBe('authorizer');
    const byKey = (list: readonly { routeKey: string }[]) => [...list].sort((a, b) => (a.routeKey < b.routeKey ? -1 : 1));
    expect(byKey(api.routes)).toEqual(byKey(routes));
  });

  it('reads every stream event source mapping with its settings', () => {
    expect(streamEventSources(synthesized)).toEqual(streamSources);
  });

  it('follows a change made to the template, not the definitions', () => {
    const changed = synthesizeStack('local');
    const send = Object.entries(changed.template.Resources).find(
      ([, resource]) => resource.Type === 'AWS::ApiGatewayV2::Route' && resource.Properties?.RouteKey === 'send',
    )![0];
    for (const [id, resource] of Object.entries(changed.template.Resources)) {
      if (resource.Type === 'AWS::ApiGatewayV2::RouteResponse' && (resource.Properties?.RouteId as { Ref?: string } | undefined)?.Ref === send) {
        delete changed.template.Resources[id];
      }
    }
    (changed.template.Resources[changed.queues.fanout]!.Properties as Record<string, unknown>).VisibilityTimeout = 42;
    expect(webSocketApiSettings(changed).routes.find((route) => route.routeKey === 'send')).toMatchObject({ returnResponse: false });
    expect(queueSettings(changed).fanout.attributes.VisibilityTimeout).toBe('42');
  });
});
