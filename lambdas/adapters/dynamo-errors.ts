import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** One item's outcome in a cancelled transaction, with the item's old image when DynamoDB returned it. */
export interface CancellationReason {
  code: string;
  item?: Record<string, unknown>;
}

/** The per-item reasons of a cancelled transaction, or undefined when the error is something else. */
export function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  if (!(error instanceof TransactionCanceledException)) return undefined;
  return (error.CancellationReasons ?? []).map((reason) => ({
    code: reason.Code ?? 'None',
    item: reason.Item ? unmarshall(reason.Item as Record<string, AttributeValue>) : undefined,
  }));
}

/** True for a failed condition on a single-item write. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/** The item a failed single-item condition returned (ReturnValuesOnConditionCheckFailure ALL_OLD), if any. */
export function conditionFailureItem(error: unknown): Record<string, unknown> | undefined {
  const item = (error as { Item?: Record<string, AttributeValue> }).Item;
  return item ? unmarshall(item) : undefined;
}
