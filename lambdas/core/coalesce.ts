/**
 * Coalesces concurrent writes to one key into as few requests as possible: while a write of a key is
 * in flight, later calls for it wait and go together in the next one. One webhook's burst of failed
 * attempts in a batch (or in the local stack's parallel pollers) costs a couple of UpdateItems on its
 * subscription item, not one per attempt, so the item's partition is never the bottleneck.
 */
export class Coalescer<T, R> {
  private readonly keys = new Map<string, { running: Promise<unknown>; waiting?: { items: T[]; result: Promise<R> } }>();

  /** `write(items)` performs the merged write of the items gathered for one key. */
  constructor(private readonly write: (key: string, items: readonly T[]) => Promise<R>) {}

  call(key: string, item: T): Promise<R> {
    const state = this.keys.get(key);
    if (!state) return this.start(key, [item]);
    if (state.waiting) {
      state.waiting.items.push(item);
      return state.waiting.result;
    }
    const items = [item];
    const result = state.running.then(
      () => this.start(key, items, true),
      () => this.start(key, items, true),
    );
    state.waiting = { items, result };
    return result;
  }

  private start(key: string, items: T[], queued = false): Promise<R> {
    const running = this.write(key, items);
    const state = this.keys.get(key);
    if (queued && state) {
      state.running = running;
      state.waiting = undefined;
    } else this.keys.set(key, { running });
    const done = () => {
      const now = this.keys.get(key);
      if (now && now.running === running && !now.waiting) this.keys.delete(key);
    };
    running.then(done, done);
    return running;
  }
}
