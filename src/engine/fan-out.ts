// Bounded fan-out over servers: every item is tried, failures are collected, never thrown.
import pLimit from 'p-limit';

/** Run fn over items with at most `limit` at once, collecting failures instead of throwing. */
export async function fanOut<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<{ item: T; error: Error }[]> {
  const run = pLimit(Math.max(1, limit));
  const failures: { item: T; error: Error }[] = [];
  await Promise.all(items.map((item) => run(() => fn(item).catch((error: Error) => void failures.push({ item, error })))));
  return failures;
}
