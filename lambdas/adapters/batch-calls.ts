/**
 * Batch calls of the AWS APIs: cut into the API's largest batches, and what a call leaves
 * unprocessed (DynamoDB's UnprocessedKeys / UnprocessedItems under load, SQS's `Failed` entries)
 * sent again after a backoff, as both services ask, until nothing is left or the tries run out.
 */

/** `items` in runs of at most `size`, in order. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!(size >= 1)) throw new RangeError(`chunk size must be at least 1, not ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface RetryUnprocessed {
  /** Calls at most, the first included; items still unprocessed after the last one make it throw. */
  tries: number;
  /** The wait before try `round` + 1 (round 1 is the first retry), in ms. */
  backoffMs: (round: number) => number;
}

/**
 * DynamoDB's BatchGetItem and BatchWriteItem: 10 tries, 100 ms doubling up to 1 s between them
 * (about 6.5 s in all), the exponential backoff DynamoDB's documentation asks for.
 */
export const DYNAMODB_RETRY: RetryUnprocessed = { tries: 10, backoffMs: (round) => Math.min(50 * 2 ** round, 1_000) };

/** SQS's SendMessageBatch: 4 tries, 200, 400 and 800 ms apart. */
export const SQS_RETRY: RetryUnprocessed = { tries: 4, backoffMs: (round) => 100 * 2 ** round };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `call` with `items`, then with what it answered was left unprocessed, after `retry`'s backoff,
 * until it leaves nothing. Throws `failure(left)` when the last try still leaves items; an error of
 * `call` itself goes up at once. `wait` is the sleep (the simulator's runs in virtual time).
 */
export async function callUntilProcessed<T>(
  items: readonly T[],
  call: (pending: readonly T[]) => Promise<readonly T[] | undefined>,
  retry: RetryUnprocessed,
  failure: (left: readonly T[]) => Error,
  wait: (ms: number) => Promise<void> = sleep,
): Promise<void> {
  let pending: readonly T[] = items;
  for (let round = 0; pending.length > 0; round++) {
    if (round > 0) await wait(retry.backoffMs(round));
    pending = (await call(pending)) ?? [];
    if (pending.length > 0 && round + 1 >= retry.tries) throw failure(pending);
  }
}
