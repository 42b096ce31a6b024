import { randomUUID } from "node:crypto";
import { sendBatches } from "#adapters/sqs.ts";
import type { DeliveryMessage } from "#core/model.ts";
import type { DeliveryQueue, QueueDepths } from "#core/ports.ts";
import { MAX_VISIBILITY_TIMEOUT_SECONDS, QUEUE } from "#core/settings.ts";
import type { Ledger, VirtualTime } from "../engine.ts";

export interface SimMessage {
  readonly id: string;
  readonly body: string;
  readonly groupId?: string;
  readonly sentAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
  /** The current receive: its time and handle (a new handle per receive, as SQS). */
  receivedAt?: number;
  handle?: string;
  state: "delayed" | "visible" | "inflight" | "deleted" | "moved";
  /** Bumped on every hide, so a stale wake-up is ignored. */
  hideSeq: number;
}

export interface SimQueueOptions {
  name: string;
  visibilityTimeoutSeconds: number;
  /** SQS's in-flight limit (scaled with the scenario). */
  inFlightLimit: number;
  maxReceiveCount?: number;
  dlq?: SimQueue;
}

/**
 * A standard SQS queue with the rules real SQS enforces and the emulators do not: ~120,000 messages in
 * flight (receives return nothing past it), 12 h of visibility counted from the receive
 * (ChangeMessageVisibility past what the receive has left is refused), DelaySeconds ≤ 900, 1 MiB per
 * message and per batch, at most 10 entries with distinct ids per batch call, maxReceiveCount → DLQ.
 * A refused request is recorded in the ledger as a broken rule and fails as it would on AWS.
 */
export class SimQueue {
  private visible: SimMessage[] = [];
  private head = 0;
  private readonly byHandle = new Map<string, SimMessage>();
  private waiters: { done: boolean; resolve: () => void }[] = [];
  private readonly held = new Set<SimMessage>();
  readonly debugAll: SimMessage[] = [];
  inFlight = 0;
  delayed = 0;
  peakInFlight = 0;
  all = 0;
  /** Message groups (webhook ids) whose in-flight messages are counted apart, with their own peak (the unhealthy endpoints'). */
  watched = new Set<string>();
  inFlightWatched = 0;
  peakInFlightWatched = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly ledger: Ledger,
    readonly options: SimQueueOptions,
  ) {}

  get visibleCount(): number {
    return this.visible.length - this.head;
  }

  /** SendMessageBatch. */
  sendBatch(entries: readonly { id: string; body: string; groupId?: string; delaySeconds?: number }[]): void {
    this.ledger.count(`SQS.SendMessageBatch`);
    if (entries.length === 0 || entries.length > 10)
      throw this.ledger.violation("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", `${entries.length} entries`);
    if (new Set(entries.map((e) => e.id)).size !== entries.length)
      throw this.ledger.violation("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "SendMessageBatch");
    const bytes = entries.reduce((n, e) => n + Buffer.byteLength(e.body), 0);
    if (bytes > QUEUE.maxMessageBytes) throw this.ledger.violation("AWS.SimpleQueueService.BatchRequestTooLong", `${bytes} bytes`);
    for (const e of entries) this.checkMessage(e.body, e.delaySeconds);
    for (const e of entries) this.accept(e.body, e.groupId, e.delaySeconds ?? 0);
  }

  /** SendMessage. */
  send(body: string, groupId?: string, delaySeconds = 0): void {
    this.ledger.count(`SQS.SendMessage`);
    this.checkMessage(body, delaySeconds);
    this.accept(body, groupId, delaySeconds);
  }

  private checkMessage(body: string, delaySeconds?: number): void {
    const size = Buffer.byteLength(body);
    if (size > QUEUE.maxMessageBytes) throw this.ledger.violation("InvalidParameterValue", `message of ${size} bytes is over 1 MiB`);
    if (delaySeconds !== undefined && (delaySeconds < 0 || delaySeconds > QUEUE.maxDelaySeconds || !Number.isInteger(delaySeconds))) {
      throw this.ledger.violation("InvalidParameterValue", `DelaySeconds ${delaySeconds} is outside 0..900`);
    }
    // Characters SQS refuses in a body (#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF).
    if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(body))
      throw this.ledger.violation("InvalidMessageContents", "a character SQS does not allow");
  }

  private accept(body: string, groupId: string | undefined, delaySeconds: number): SimMessage {
    const m: SimMessage = { id: randomUUID(), body, groupId, sentAt: this.time.now(), receiveCount: 0, state: "visible", hideSeq: 0 };
    this.all++;
    this.held.add(m);
    if (process.env.SIM_DEBUG) this.debugAll.push(m);
    if (delaySeconds > 0) {
      m.state = "delayed";
      this.delayed++;
      this.hideUntil(m, this.time.now() + delaySeconds * 1000);
    } else this.makeVisible(m);
    return m;
  }

  private makeVisible(m: SimMessage): void {
    m.state = "visible";
    this.visible.push(m);
    for (let w = this.waiters.shift(); w; w = this.waiters.shift()) {
      if (w.done) continue;
      w.done = true;
      w.resolve();
      break;
    }
  }

  private hideUntil(m: SimMessage, at: number): void {
    const seq = ++m.hideSeq;
    this.time.at(at, () => {
      if (m.hideSeq !== seq) return;
      if (m.state === "inflight") this.leaveFlight(m);
      else if (m.state === "delayed") this.delayed--;
      else return;
      if (m.handle) this.byHandle.delete(m.handle);
      m.handle = undefined;
      this.makeVisible(m);
    });
  }

  /** ReceiveMessage: at most 10; nothing while the in-flight limit is reached. */
  receive(max: number): SimMessage[] {
    this.ledger.count(`SQS.ReceiveMessage`);
    if (max < 1 || max > 10) throw this.ledger.violation("InvalidParameterValue", `MaxNumberOfMessages ${max}`);
    const out: SimMessage[] = [];
    if (this.inFlight >= this.options.inFlightLimit) {
      this.ledger.throttle("SQS.OverLimit(in flight)");
      return out;
    }
    const now = this.time.now();
    while (out.length < max && this.head < this.visible.length && this.inFlight < this.options.inFlightLimit) {
      const m = this.visible[this.head++];
      if (m.state !== "visible") continue;
      m.receiveCount++;
      if (this.options.dlq && this.options.maxReceiveCount !== undefined && m.receiveCount > this.options.maxReceiveCount) {
        // The redrive policy: moved to the DLQ instead of being received.
        m.state = "moved";
        this.held.delete(m);
        this.options.dlq.accept(m.body, m.groupId, 0);
        continue;
      }
      m.state = "inflight";
      m.firstReceiveAt ??= now;
      m.receivedAt = now;
      m.handle = randomUUID();
      this.byHandle.set(m.handle, m);
      this.inFlight++;
      this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
      if (m.groupId !== undefined && this.watched.has(m.groupId)) this.peakInFlightWatched = Math.max(this.peakInFlightWatched, ++this.inFlightWatched);
      this.hideUntil(m, now + this.options.visibilityTimeoutSeconds * 1000);
      out.push(m);
    }
    if (this.head > 4_096 && this.head * 2 > this.visible.length) {
      this.visible = this.visible.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  private leaveFlight(m: SimMessage): void {
    this.inFlight--;
    if (m.groupId !== undefined && this.watched.has(m.groupId)) this.inFlightWatched--;
  }

  /** Resolves when a message may be visible (a send or a visibility ending), or after `maxMs`. */
  waitForMessages(maxMs: number): Promise<void> {
    if (this.visibleCount > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { done: false, resolve };
      this.waiters.push(w);
      void this.time.sleep(maxMs).then(() => {
        if (w.done) return;
        w.done = true;
        resolve();
      });
    });
  }

  /** ChangeMessageVisibilityBatch: the failed entries, as SQS answers them. */
  changeVisibilityBatch(entries: readonly { id: string; handle: string; seconds: number }[]): { id: string; code: string }[] {
    this.ledger.count(`SQS.ChangeMessageVisibilityBatch`);
    if (entries.length === 0 || entries.length > 10)
      throw this.ledger.violation("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", `${entries.length} entries`);
    if (new Set(entries.map((e) => e.id)).size !== entries.length)
      throw this.ledger.violation("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "ChangeMessageVisibilityBatch");
    const failed: { id: string; code: string }[] = [];
    const now = this.time.now();
    for (const e of entries) {
      const m = this.byHandle.get(e.handle);
      if (!m || m.state !== "inflight" || m.handle !== e.handle) {
        failed.push({ id: e.id, code: "MessageNotInflight" });
        continue;
      }
      const elapsed = (now - m.receivedAt!) / 1000;
      if (e.seconds < 0 || e.seconds > MAX_VISIBILITY_TIMEOUT_SECONDS || elapsed + e.seconds > MAX_VISIBILITY_TIMEOUT_SECONDS) {
        // "If you attempt to set the VisibilityTimeout to an amount more than the maximum time left,
        // Amazon SQS returns an error."
        this.ledger.violation("InvalidParameterValue", `visibility ${e.seconds}s asked ${Math.round(elapsed)}s after the receive: past 12 h from it`);
        failed.push({ id: e.id, code: "InvalidParameterValue" });
        continue;
      }
      this.hideUntil(m, now + e.seconds * 1000);
    }
    return failed;
  }

  /** DeleteMessageBatch. */
  deleteBatch(handles: readonly string[]): void {
    this.ledger.count(`SQS.DeleteMessageBatch`);
    if (handles.length === 0 || handles.length > 10)
      throw this.ledger.violation("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", `${handles.length} entries`);
    for (const h of handles) {
      const m = this.byHandle.get(h);
      if (!m || m.state !== "inflight") continue;
      m.state = "deleted";
      this.held.delete(m);
      m.hideSeq++;
      this.leaveFlight(m);
      this.byHandle.delete(h);
    }
  }

  /** Moves every visible message to `target` as new messages (StartMessageMoveTask). */
  moveAllTo(target: SimQueue): number {
    let moved = 0;
    for (let i = this.head; i < this.visible.length; i++) {
      const m = this.visible[i];
      if (m.state !== "visible") continue;
      m.state = "moved";
      this.held.delete(m);
      target.accept(m.body, m.groupId, 0);
      moved++;
    }
    this.visible = [];
    this.head = 0;
    return moved;
  }

  /** Messages still held (visible, delayed or in flight). */
  get depth(): number {
    return this.visibleCount + this.inFlight + this.delayed;
  }

  /** Bodies of every message still held (visible, delayed or in flight), for the loss accounting. */
  heldBodies(): string[] {
    return [...this.held].map((m) => m.body);
  }
}

/** The DeliveryQueue port on simulated SQS, batching exactly as the SQS adapter does. */
export class SimDeliveryQueue implements DeliveryQueue {
  constructor(
    readonly queue: SimQueue,
    readonly dlq: SimQueue,
  ) {}

  async send(messages: readonly DeliveryMessage[], delaySeconds?: number): Promise<void> {
    await this.sendDelayed(messages.map((message) => ({ message, delaySeconds })));
  }

  async sendDelayed(items: readonly { message: DeliveryMessage; delaySeconds?: number }[]): Promise<void> {
    const entries = items.map(({ message: m, delaySeconds }) => ({
      Id: "",
      MessageBody: JSON.stringify(m),
      MessageGroupId: m.webhookId,
      DelaySeconds: delaySeconds,
    }));
    for (const batch of sendBatches(entries)) {
      this.queue.sendBatch(batch.map((e) => ({ id: e.Id!, body: e.MessageBody!, groupId: e.MessageGroupId, delaySeconds: e.DelaySeconds })));
    }
  }

  async changeVisibility(items: readonly { receiptHandle: string; seconds: number }[]): Promise<void> {
    let failed = 0;
    let first = "";
    for (let i = 0; i < items.length; i += 10) {
      const part = items.slice(i, i + 10);
      const res = this.queue.changeVisibilityBatch(part.map((it, j) => ({ id: String(j), handle: it.receiptHandle, seconds: it.seconds })));
      failed += res.length;
      first ||= res[0]?.code ?? "";
    }
    if (failed > 0) throw new Error(`ChangeMessageVisibilityBatch failed for ${failed} messages: ${first}`);
  }

  async deadLetter(message: DeliveryMessage): Promise<void> {
    this.dlq.send(JSON.stringify(message), message.webhookId);
  }

  async dlqDepth(): Promise<{ visible: number; inFlight: number }> {
    return { visible: this.dlq.visibleCount, inFlight: this.dlq.inFlight };
  }

  async depths(): Promise<QueueDepths> {
    return {
      delivery: { visible: this.queue.visibleCount, inFlight: this.queue.inFlight, delayed: this.queue.delayed },
      dlq: { visible: this.dlq.visibleCount, inFlight: this.dlq.inFlight },
    };
  }

  async redrive(): Promise<{ moved?: number; taskId?: string }> {
    return { moved: this.dlq.moveAllTo(this.queue) };
  }
}
