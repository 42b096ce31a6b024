import type { Clock } from "#core/ports.ts";

interface Timer {
  t: number;
  seq: number;
  fn: () => void;
}

/**
 * A virtual clock and its event loop: days pass in seconds. Time moves only from one scheduled
 * event to the next; after each instant every promise chain the event started runs to its next
 * virtual wait (one macrotask turn), so the core's async code runs unchanged, with no real timer.
 */
/** When every simulation starts (virtual epoch ms). */
export const SIM_START_MS = Date.UTC(2026, 0, 5, 0, 0, 0);

export class VirtualTime implements Clock {
  private t: number;
  private seq = 0;
  private heap: Timer[] = [];

  constructor(startMs = SIM_START_MS) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  /** Runs `fn` at virtual time `t` (now, if t is past). */
  at(t: number, fn: () => void): void {
    this.push({ t: Math.max(t, this.t), seq: this.seq++, fn });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(this.t + Math.max(0, ms), resolve));
  }

  /** Runs every event up to `untilMs`, then leaves the clock there. */
  async runUntil(untilMs: number): Promise<void> {
    await settle();
    while (this.heap.length > 0 && this.heap[0].t <= untilMs) {
      const t = this.heap[0].t;
      this.t = t;
      while (this.heap.length > 0 && this.heap[0].t === t) this.pop().fn();
      await settle();
    }
    this.t = Math.max(this.t, untilMs);
  }

  /** Runs events until `work` settles (for code that waits in virtual time outside runUntil). */
  async drive<T>(work: Promise<T>): Promise<T> {
    let done = false;
    const watched = work.finally(() => {
      done = true;
    });
    watched.catch(() => {});
    await settle();
    while (!done) {
      if (this.heap.length === 0) throw new Error("virtual time ran out of events with the work still waiting");
      const t = this.heap[0].t;
      this.t = t;
      while (this.heap.length > 0 && this.heap[0].t === t) this.pop().fn();
      await settle();
    }
    return watched;
  }

  get pending(): number {
    return this.heap.length;
  }

  private push(x: Timer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): Timer {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}

const less = (a: Timer, b: Timer) => a.t < b.t || (a.t === b.t && a.seq < b.seq);

/** One macrotask turn: every microtask queued so far (and those they queue) has run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An AWS rule a request broke: the fake refuses it as AWS would, and the simulator reports it. */
export class AwsRuleError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = code;
  }
}

/** Counts of requests per AWS API, and the rules requests broke. */
export class Ledger {
  readonly requests = new Map<string, number>();
  readonly violations: string[] = [];
  /** Refusals that are load, not bugs: throttling, in-flight limit. */
  readonly throttles = new Map<string, number>();

  count(api: string, n = 1): void {
    this.requests.set(api, (this.requests.get(api) ?? 0) + n);
  }

  violation(code: string, message: string): AwsRuleError {
    if (this.violations.length < 1_000) this.violations.push(`${code}: ${message}`);
    return new AwsRuleError(code, message);
  }

  throttle(code: string): void {
    this.throttles.set(code, (this.throttles.get(code) ?? 0) + 1);
  }

  total(prefix = ""): number {
    let n = 0;
    for (const [k, v] of this.requests) if (k.startsWith(prefix)) n += v;
    return n;
  }
}
