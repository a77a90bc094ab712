import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** A conditional write's condition failed (the SDK class, or its name across SDK copies). */
export function isConditionFailure(e: unknown): boolean {
  return (
    e instanceof ConditionalCheckFailedException || (e as Error)?.name === 'ConditionalCheckFailedException'
  );
}
