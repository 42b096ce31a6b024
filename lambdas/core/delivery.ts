import { z } from "zod";
import { activeSecrets, type Attempt, type DeliveryMessage, type DeliveryRecord, type Subscription } from "./model.ts";
import type { AttemptWrite, Clock, CoreLogger, CoreMetrics, DeliveryLog, DeliveryQueue, HttpResult, HttpSender, SecretSealer, SubscriptionStore } from "./ports.ts";
import { parseRetryAfter, type RetrySchedule } from "./retry.ts";
import { signatureHeader } from "./signing.ts";
import { RECOVERY_DELAY_SECONDS } from "./settings.ts";
import { USER_AGENT } from "./version.ts";
import { decodeTime } from "ulid";

/** A message as the event source hands it over, free of any AWS event type. */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  /** When SQS accepted the message (epoch ms), for the latency metric. */
  readonly sentAt?: number;
  /** SQS ApproximateReceiveCount: 1 means no earlier receive can have recorded an attempt. */
  readonly receiveCount?: number;
}

export interface DeliveryDeps {
  subscriptions: SubscriptionStore;
  deliveries: DeliveryLog;
  queue: DeliveryQueue;
  /** Opens the subscriptions' sealed signing secrets (kept, opened, only as long as the subscription cache). */
  secrets: SecretSealer;
  sender: HttpSender;
  clock: Clock;
  schedule: RetrySchedule;
  logger: CoreLogger;
  metrics: CoreMetrics;
  attemptTimeoutMs: number;
  autoDisableAfterSeconds: number;
  subscriptionCacheMs: number;
  /** The delay ingest gives recovery copies (must match ingest's); bounds when a record read may be skipped. */
  recoveryDelaySeconds?: number;
  /** Told about every attempt; the local stack prints a line per attempt from it. */
  onAttempt?: (a: AttemptReport) => void;
}

export interface AttemptReport {
  message: DeliveryMessage;
  attempt: Attempt;
  outcome: "succeeded" | "retrying" | "failed";
  nextDelaySeconds?: number;
}

/** Thrown by `deliver` for a message that must stay on the queue (its backoff is already applied). */
export class RetryLater extends Error {
  constructor(readonly deliveryId: string, readonly delaySeconds: number) {
    super(`delivery ${deliveryId} failed; next attempt in ${delaySeconds}s`);
    this.name = "RetryLater";
  }
}

const messageSchema = z.object({
  v: z.literal(1),
  deliveryId: z.string().min(1),
  tenantId: z.string().min(1),
  webhookId: z.string().min(1),
  eventId: z.string().min(1),
  eventType: z.string().min(1),
  payload: z.string(),
  recovery: z.literal(true).optional(),
  deadLetteredAt: z.string().optional(),
  replayOf: z.string().optional(),
});

/** What one batch needs from the tables, read with one BatchGetItem each. */
export interface BatchContext {
  readonly messages: Map<string, DeliveryMessage | undefined>;
  readonly subscriptions: Map<string, Subscription>;
  readonly records: Map<string, DeliveryRecord>;
  /** Backoffs to apply, flushed with one ChangeMessageVisibilityBatch after the batch. */
  readonly backoffs: { receiptHandle: string; seconds: number }[];
  /** First-attempt records, written together by `finish`. */
  readonly created: AttemptWrite[];
}

const subKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/**
 * The deliver λ's core: attempts each delivery of a batch, records the attempt with one write, and
 * decides its fate — done, retry after a backoff (visibility timeout), dead-lettered or skipped.
 * The attempt count is the delivery record's, never SQS's ApproximateReceiveCount.
 */
export class DeliveryService {
  private cache = new Map<string, { sub: Subscription | undefined; at: number }>();

  constructor(private readonly deps: DeliveryDeps) {}

  /** Reads the batch's subscriptions (through a ≤ 1 s cache) and existing delivery records. */
  async prepare(batch: readonly ReceivedMessage[]): Promise<BatchContext> {
    const messages = new Map<string, DeliveryMessage | undefined>();
    for (const m of batch) messages.set(m.messageId, parseMessage(m.body));
    const parsed = [...messages.values()].filter((m): m is DeliveryMessage => m !== undefined);
    // A plain message received for the first time, soon after its event's acceptance, cannot have a
    // record yet: no earlier receive, and an ingest retry's recovery copy is held back longer
    // (the recovery delay). Only the others are read: most first attempts cost no read at all.
    const now = this.deps.clock.now();
    const freshForMs = ((this.deps.recoveryDelaySeconds ?? RECOVERY_DELAY_SECONDS) - 10) * 1000;
    const needRecords = batch.flatMap((r) => {
      const m = messages.get(r.messageId);
      if (!m) return [];
      const fresh = r.receiveCount === 1 && !m.recovery && m.deadLetteredAt === undefined && now - acceptedAt(m) < freshForMs;
      return fresh ? [] : [m];
    });

    const subscriptions = new Map<string, Subscription>();
    const missing = new Map<string, { tenantId: string; id: string }>();
    for (const m of parsed) {
      const key = subKey(m.tenantId, m.webhookId);
      const cached = this.cache.get(key);
      if (cached && now - cached.at < this.deps.subscriptionCacheMs) {
        if (cached.sub) subscriptions.set(key, cached.sub);
      } else missing.set(key, { tenantId: m.tenantId, id: m.webhookId });
    }
    const [fresh, records] = await Promise.all([
      this.deps.subscriptions.getMany([...missing.values()]),
      this.deps.deliveries.getMany(needRecords.map((m) => ({ tenantId: m.tenantId, webhookId: m.webhookId, id: m.deliveryId }))),
    ]);
    for (const key of missing.keys()) this.cache.set(key, { sub: undefined, at: now });
    for (const sub of await Promise.all(fresh.map((s) => this.openSecrets(s, now)))) {
      const key = subKey(sub.tenantId, sub.id);
      subscriptions.set(key, sub);
      this.cache.set(key, { sub, at: now });
    }
    return { messages, subscriptions, records: new Map(records.map((r) => [r.id, r])), backoffs: [], created: [] };
  }

  /**
   * Delivers one message. Returns when the message is finished with (delete it); throws RetryLater
   * when it must come back after its backoff.
   */
  async deliver(ctx: BatchContext, received: ReceivedMessage): Promise<void> {
    const { logger, clock } = this.deps;
    const message = ctx.messages.get(received.messageId);
    if (!message) {
      // Nothing to attempt or record: left on the queue, the redrive policy's maxReceiveCount moves it to the DLQ.
      logger.error("malformed delivery message left for the DLQ safety net", { messageId: received.messageId });
      throw new Error(`message ${received.messageId} is not a delivery message`);
    }
    const log = { deliveryId: message.deliveryId, eventId: message.eventId, tenantId: message.tenantId, webhookId: message.webhookId };
    const record = ctx.records.get(message.deliveryId);

    let round = record?.round;
    let roundStart = record?.roundStart ?? 0;
    if (record) {
      if (message.recovery) return logger.info("duplicate from an ingest retry dropped", log);
      const redriven = message.deadLetteredAt !== undefined && record.status === "failed" && record.deadLetteredAt === message.deadLetteredAt;
      if (redriven) {
        round = message.deadLetteredAt;
        roundStart = record.attemptCount;
        logger.info("redriven delivery starts a fresh retry schedule", { ...log, previousAttempts: record.attemptCount });
      } else if (message.deadLetteredAt !== record.round) {
        return logger.info("stale copy of a delivery dropped", log);
      } else if (record.status !== "pending") {
        return logger.info(`delivery already ${record.status}; copy dropped`, log);
      }
    }

    const nowIso = new Date(clock.now()).toISOString();
    const sub = ctx.subscriptions.get(subKey(message.tenantId, message.webhookId));
    if (!sub || !sub.enabled) {
      const reason = sub ? "subscription is disabled" : "subscription was deleted";
      await this.deps.deliveries.write({ message, status: "skipped", roundStart, round, reason, nowIso });
      this.deps.metrics.count("DeliveriesSkipped");
      return logger.info(`delivery skipped: ${reason}`, log);
    }

    const attemptNumber = (record?.attemptCount ?? 0) + 1;
    const roundAttempt = attemptNumber - roundStart;
    if (roundAttempt > this.deps.schedule.maxAttempts) {
      // The schedule ran out but the message survived (a crash after the last attempt): finish it.
      return this.deadLetter(message, { roundStart, round, nowIso, reason: "retry schedule exhausted" });
    }

    const result = await this.attempt(sub, message);
    const attempt: Attempt = {
      n: attemptNumber,
      at: nowIso,
      statusCode: result.statusCode,
      error: result.error,
      durationMs: result.durationMs,
      responseExcerpt: result.responseExcerpt,
    };
    this.deps.metrics.count("Attempts");
    this.deps.metrics.milliseconds("EndpointResponseTime", result.durationMs);

    if (result.error === undefined) {
      const w: AttemptWrite = { message, attempt, status: "succeeded", roundStart, round, nowIso };
      if (record) await this.deps.deliveries.write(w);
      else ctx.created.push(w);
      if (sub.failingSince) await this.deps.subscriptions.update(sub.tenantId, sub.id, { failingSince: null });
      this.deps.metrics.count("DeliveriesSucceeded");
      if (received.sentAt) this.deps.metrics.milliseconds("DeliveryLatency", clock.now() - received.sentAt);
      this.deps.onAttempt?.({ message, attempt, outcome: "succeeded" });
      return logger.debug("delivered", { ...log, attempt: attemptNumber, statusCode: result.statusCode, durationMs: result.durationMs });
    }

    logger.warn("attempt failed", { ...log, attempt: attemptNumber, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs });
    if (result.statusCode === 410) {
      await this.disable(sub, "the endpoint answered 410 Gone", nowIso);
      await this.deps.deliveries.write({ message, attempt, status: "failed", roundStart, round, nowIso, reason: "endpoint answered 410 Gone" });
      this.deps.metrics.count("DeliveriesFailed");
      this.deps.onAttempt?.({ message, attempt, outcome: "failed" });
      return;
    }
    if (await this.noteFailure(sub, nowIso)) {
      await this.deps.deliveries.write({ message, attempt, status: "failed", roundStart, round, nowIso, reason: "subscription auto-disabled" });
      this.deps.metrics.count("DeliveriesFailed");
      this.deps.onAttempt?.({ message, attempt, outcome: "failed" });
      return;
    }

    const retryAfter = result.statusCode === 429 || result.statusCode === 503 ? parseRetryAfter(result.retryAfter, clock.now()) : undefined;
    const delay = this.deps.schedule.delayAfter(roundAttempt, retryAfter);
    if (delay === undefined) {
      this.deps.onAttempt?.({ message, attempt, outcome: "failed" });
      return this.deadLetter(message, { roundStart, round, nowIso, attempt, reason: "retry schedule exhausted" });
    }
    const nextAttemptAt = new Date(clock.now() + delay * 1000).toISOString();
    await this.deps.deliveries.write({ message, attempt, status: "pending", roundStart, round, nowIso, nextAttemptAt });
    ctx.backoffs.push({ receiptHandle: received.receiptHandle, seconds: delay });
    this.deps.onAttempt?.({ message, attempt, outcome: "retrying", nextDelaySeconds: delay });
    throw new RetryLater(message.deliveryId, delay);
  }

  /** Writes the batch's first-attempt records and applies its backoffs, one request each; called after every message is decided. */
  async finish(ctx: BatchContext): Promise<void> {
    const results = await Promise.allSettled([
      ctx.created.length > 0 ? this.deps.deliveries.createMany(ctx.created) : undefined,
      ctx.backoffs.length > 0 ? this.deps.queue.changeVisibility(ctx.backoffs) : undefined,
    ]);
    // A failed write fails the invocation: the batch comes back and the log is completed then.
    for (const r of results) if (r.status === "rejected") throw r.reason;
  }

  /** The subscription with the plaintext of each secret that still signs (sealed ones opened; legacy plaintext as stored). */
  private async openSecrets(sub: Subscription, now: number): Promise<Subscription> {
    const context = { tenantId: sub.tenantId, webhookId: sub.id };
    const secrets = await Promise.all(
      sub.secrets
        .filter((x) => !x.expiresAt || Date.parse(x.expiresAt) > now)
        .map(async (x) => (x.sealed === undefined ? x : { ...x, value: await this.deps.secrets.open(x.sealed, context) })),
    );
    return { ...sub, secrets };
  }

  private attempt(sub: Subscription, message: DeliveryMessage): Promise<HttpResult> {
    const now = this.deps.clock.now();
    const timestamp = Math.floor(now / 1000);
    const headers = {
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      "webhook-id": message.eventId,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signatureHeader(activeSecrets(sub, now), message.eventId, timestamp, message.payload),
    };
    return this.deps.sender.post(sub.url, headers, message.payload, this.deps.attemptTimeoutMs);
  }

  /** DLQ first, then the record: a crash in between re-dead-letters, and the stale copy is dropped at redrive. */
  private async deadLetter(
    message: DeliveryMessage,
    w: { roundStart: number; round?: string; nowIso: string; attempt?: Attempt; reason: string },
  ): Promise<void> {
    const deadLetteredAt = w.nowIso;
    const { recovery: _r, ...rest } = message;
    await this.deps.queue.deadLetter({ ...rest, deadLetteredAt });
    await this.deps.deliveries.write({ message, attempt: w.attempt, status: "failed", roundStart: w.roundStart, round: w.round, nowIso: w.nowIso, deadLetteredAt, reason: w.reason });
    this.deps.metrics.count("DeliveriesFailed");
    this.deps.metrics.count("DlqMoves");
    this.deps.logger.warn("delivery failed and was sent to the DLQ", { deliveryId: message.deliveryId, tenantId: message.tenantId, webhookId: message.webhookId, reason: w.reason });
  }

  /** Starts or extends the subscription's failing streak; true when it has just been auto-disabled. */
  private async noteFailure(sub: Subscription, nowIso: string): Promise<boolean> {
    if (!sub.failingSince) {
      await this.deps.subscriptions.update(sub.tenantId, sub.id, { failingSince: nowIso });
      this.cache.delete(subKey(sub.tenantId, sub.id));
      return false;
    }
    const failingForSeconds = (Date.parse(nowIso) - Date.parse(sub.failingSince)) / 1000;
    if (failingForSeconds < this.deps.autoDisableAfterSeconds) return false;
    const days = Math.round((failingForSeconds / 86_400) * 10) / 10;
    await this.disable(sub, `every attempt failed for ${days} days (since ${sub.failingSince})`, nowIso);
    return true;
  }

  private async disable(sub: Subscription, reason: string, nowIso: string): Promise<void> {
    await this.deps.subscriptions.update(sub.tenantId, sub.id, { enabled: false, disabledReason: reason, disabledAt: nowIso, failingSince: null, updatedAt: nowIso });
    this.cache.delete(subKey(sub.tenantId, sub.id));
    this.deps.metrics.count("AutoDisables");
    this.deps.logger.warn("subscription disabled", { tenantId: sub.tenantId, webhookId: sub.id, reason });
  }
}

/** When the delivery's event was accepted: the time part of its id (0, i.e. long ago, if unreadable). */
function acceptedAt(m: DeliveryMessage): number {
  try {
    return decodeTime(m.deliveryId.slice("dlv_".length));
  } catch {
    return 0;
  }
}

function parseMessage(body: string): DeliveryMessage | undefined {
  try {
    const parsed = messageSchema.safeParse(JSON.parse(body));
    return parsed.success ? (parsed.data as DeliveryMessage) : undefined;
  } catch {
    return undefined;
  }
}
