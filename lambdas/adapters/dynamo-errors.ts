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
