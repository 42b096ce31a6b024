import { z } from "zod";
import { activeSecrets, releaseReset, type Attempt, type DeliveryMessage, type DeliveryRecord, type ParkReason, type Subscription } from "./model.ts";
import type { HealthPolicy } from "./parking.ts";
import type {
  AttemptWrite,
  Clock,
  CoreLogger,
  CoreMetrics,
  DeliveryLog,
  DeliveryQueue,
  HealthStore,
  HttpResult,
  HttpSender,
  SecretSealer,
  SubscriptionStore,
} from "./ports.ts";
import { parseRetryAfter, type RetrySchedule } from "./retry.ts";
import { signatureHeader } from "./signing.ts";
import { HEALTH, MAX_VISIBILITY_TIMEOUT_SECONDS, METRICS, QUEUE, RECOVERY_DELAY_SECONDS } from "./settings.ts";
import { USER_AGENT } from "./version.ts";
import { Coalescer } from "./coalesce.ts";
import { decodeTime } from "ulid";
import { randomInt } from "node:crypto";

/** A message as the event source hands it over, free of any AWS event type. */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  /** When SQS accepted the message (epoch ms), for the latency metric. */
  readonly sentAt?: number;
  /** SQS ApproximateReceiveCount: 1 means no earlier receive can have recorded an attempt. */
  readonly receiveCount?: number;
  /**
   * When this receive happened (epoch ms), if known. SQS counts a message's 12 h of visibility from
   * its receive; unknown (Lambda does not say), the core assumes the earliest time a receipt handle
   * still valid can date from: the batch's start minus the queue's visibility timeout.
   */
  readonly receivedAt?: number;
}

export interface DeliveryDeps {
  subscriptions: SubscriptionStore;
  /** The webhook's circuit, slots and rate windows (docs/delivery-semantics.md). */
  health: HealthStore;
  /**
   * Breaker threshold and probe interval (the release rate is the release λ's); backoffs longer than
   * `maxQueuedBackoffSeconds` (default HEALTH's) are parked instead of held in flight.
   */
  policy: Pick<HealthPolicy, "breakerThreshold" | "probeIntervalSeconds" | "maxQueuedBackoffSeconds"> & Partial<Pick<HealthPolicy, "releaseRate">>;
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
  /**
   * The slow lane (settings SLOW_LANE), on the main lane's service only: a slow webhook's messages are
   * sent there unattempted. Absent on the slow lane's service, and where the stack has no slow lane.
   */
  slowLane?: { send(messages: readonly DeliveryMessage[]): Promise<void> };
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
  constructor(
    readonly deliveryId: string,
    readonly delaySeconds: number,
  ) {
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
  released: z.literal(true).optional(),
  probe: z.literal(true).optional(),
  forwarded: z.literal(true).optional(),
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
  /** When the batch was prepared (epoch ms). */
  readonly preparedAt: number;
  /** The batch's reads failed: nothing is attempted, every message waits a bookkeeping backoff. */
  readonly unavailable?: boolean;
  /** Deliveries already handled in this batch: a second copy of one (at-least-once SQS) is dropped. */
  readonly seen: Set<string>;
}

/** Bookkeeping that failed while the attempt itself was decided (docs/operations.md); the stack alarms on it. */
export const BOOKKEEPING_WRITE_FAILURES = METRICS.bookkeepingWriteFailures;
export const BOOKKEEPING_READ_FAILURES = "BookkeepingReadFailures";

const subKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/**
 * The deliver λ's core: attempts each delivery of a batch, records the attempt with one write, and
 * decides its fate — done, retry after a backoff (visibility timeout), dead-lettered or skipped.
 * The attempt count is the delivery record's, never SQS's ApproximateReceiveCount.
 */
export class DeliveryService {
  private cache = new Map<string, { sub: Subscription | undefined; at: number }>();
  // A webhook's health writes, coalesced: a burst of attempts of one webhook costs a few writes of its item, not one each.
  private readonly failures: Coalescer<{ tenantId: string; id: string; nowIso: string }, Subscription | undefined>;
  private readonly successes: Coalescer<{ tenantId: string; id: string; nowIso: string; close: boolean; log: Record<string, unknown> }, void>;
  private readonly opens: Coalescer<{ sub: Subscription; nowIso: string; log: Record<string, unknown> }, void>;
  private readonly parks: Coalescer<{ tenantId: string; id: string; dueAt: string; nowIso: string; count: number; sooner: boolean }, void>;

  constructor(private readonly deps: DeliveryDeps) {
    const { health } = deps;
    this.failures = new Coalescer((_, all) => health.recordFailure(all[0].tenantId, all[0].id, { nowIso: all[0].nowIso, count: all.length }));
    this.successes = new Coalescer(async (_, all) => {
      const closed = await health.recordSuccess(all[0].tenantId, all[0].id, { nowIso: all[all.length - 1].nowIso, close: all.some((x) => x.close) });
      if (closed) {
        this.deps.metrics.count(METRICS.circuitsClosed);
        this.deps.logger.info("circuit closed: the endpoint answered", all[0].log);
      }
    });
    this.opens = new Coalescer((_, all) => this.openCircuit(all[0].sub, all[0].nowIso, all[0].log));
    this.parks = new Coalescer((_, all) =>
      health.noteParked(all[0].tenantId, all[0].id, {
        count: all.reduce((n, x) => n + x.count, 0),
        dueAt: all.map((x) => x.dueAt).sort()[0],
        nowIso: all[all.length - 1].nowIso,
        sooner: all.some((x) => x.sooner),
      }),
    );
  }

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
    // One key per delivery: two copies of one in a batch are normal (at-least-once SQS, redrives), and
    // DynamoDB refuses a BatchGetItem that names a key twice.
    const needRecords = new Map<string, DeliveryMessage>();
    for (const r of batch) {
      const m = messages.get(r.messageId);
      if (!m) continue;
      // A message sent again by this service (released, probe, forwarded to the slow lane) is a first receive of a delivery that may have a record.
      const fresh =
        r.receiveCount === 1 && !m.recovery && !m.released && !m.probe && !m.forwarded && m.deadLetteredAt === undefined && now - acceptedAt(m) < freshForMs;
      if (!fresh) needRecords.set(m.deliveryId, m);
    }

    const subscriptions = new Map<string, Subscription>();
    const missing = new Map<string, { tenantId: string; id: string }>();
    for (const m of parsed) {
      const key = subKey(m.tenantId, m.webhookId);
      const cached = this.cache.get(key);
      if (cached && now - cached.at < this.deps.subscriptionCacheMs) {
        if (cached.sub) subscriptions.set(key, cached.sub);
      } else missing.set(key, { tenantId: m.tenantId, id: m.webhookId });
    }
    let fresh: Subscription[];
    let records: DeliveryRecord[];
    try {
      [fresh, records] = await Promise.all([
        this.deps.subscriptions.getMany([...missing.values()]),
        this.deps.deliveries.getMany([...needRecords.values()].map((m) => ({ tenantId: m.tenantId, webhookId: m.webhookId, id: m.deliveryId }))),
      ]);
    } catch (err) {
      // Nothing can be decided without the tables; every message waits a backoff instead of coming
      // back at the queue's visibility timeout again and again (and dead-lettering on receive count).
      this.deps.metrics.count(BOOKKEEPING_READ_FAILURES);
      this.deps.logger.error("batch reads failed; every message waits a backoff", { error: err as Error, messages: batch.length });
      return { messages, subscriptions, records: new Map(), backoffs: [], created: [], preparedAt: now, unavailable: true, seen: new Set() };
    }
    // Secrets first, then the cache, with no await in between: a batch prepared meanwhile (the local
    // stack's pollers share this service) must never find "deleted" cached for a subscription that
    // is only still being opened.
    const opened = await Promise.all(fresh.map((s) => this.openSecrets(s, now)));
    for (const key of missing.keys()) this.cache.set(key, { sub: undefined, at: now });
    for (const sub of opened) {
      const key = subKey(sub.tenantId, sub.id);
      subscriptions.set(key, sub);
      this.cache.set(key, { sub, at: now });
    }
    return { messages, subscriptions, records: new Map(records.map((r) => [r.id, r])), backoffs: [], created: [], preparedAt: now, seen: new Set() };
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
    if (ctx.unavailable) return this.later(ctx, received, bookkeepingDelay(received));
    if (ctx.seen.has(message.deliveryId)) return logger.info("second copy of a delivery in one batch dropped", log);
    ctx.seen.add(message.deliveryId);
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
      } else if (record.parked && !message.released && !message.probe) {
        // Parked: only the release λ sends it again. This is a copy from before it was parked.
        return logger.info("delivery is parked; copy dropped", log);
      } else if (record.nextAttemptAt && !message.released && !message.probe) {
        // Back before its next attempt is due: a backoff longer than the visibility its receive had
        // left (SQS's 12 h from the receive), or one the queue did not apply. Hidden again, not attempted.
        const waitSeconds = Math.ceil((Date.parse(record.nextAttemptAt) - clock.now()) / 1000);
        if (waitSeconds > 1) {
          this.deps.metrics.count("BackoffsExtended");
          return this.later(ctx, received, waitSeconds);
        }
      }
    }

    const nowIso = new Date(clock.now()).toISOString();
    const sub = ctx.subscriptions.get(subKey(message.tenantId, message.webhookId));
    if (!sub || !sub.enabled) {
      const reason = sub ? "subscription is disabled" : "subscription was deleted";
      try {
        await this.deps.deliveries.write({ message, status: "skipped", roundStart, round, reason, nowIso, previousAttempts: record?.attemptCount });
      } catch (err) {
        return this.bookkeepingFailed(ctx, received, err, "skip");
      }
      this.deps.metrics.count("DeliveriesSkipped");
      return logger.info(`delivery skipped: ${reason}`, log);
    }

    const previousAttempts = record?.attemptCount ?? 0;
    const attemptNumber = previousAttempts + 1;
    const roundAttempt = attemptNumber - roundStart;
    if (roundAttempt > this.deps.schedule.maxAttempts) {
      // The schedule ran out but the message survived (a crash after the last attempt): finish it.
      return this.deadLetter(ctx, received, message, { roundStart, round, nowIso, previousAttempts, reason: "retry schedule exhausted" });
    }

    // The webhook's gate (docs/delivery-semantics.md): paused or circuit open → parked; over its rate or its slots → parked, due soon.
    const now = clock.now();
    const park = (reason: ParkReason, dueAtMs: number, extra?: Partial<AttemptWrite>, fallbackSeconds?: number) =>
      this.park(
        ctx,
        received,
        { message, status: "pending", roundStart, round, nowIso, previousAttempts, ...extra },
        sub,
        record,
        reason,
        dueAtMs,
        fallbackSeconds,
      );
    // Held by the webhook (paused, circuit open): due since its acceptance, so that it is released oldest first.
    const held = Math.min(now, acceptedAt(message));
    if (sub.paused) return park("paused", held);
    if (sub.circuit && !message.probe) return park("circuit", held);
    if (this.deps.slowLane && isSlow(sub, now) && !message.probe) {
      // Not attempted here: a slow attempt would hold this whole batch's invocation (the main lane's
      // concurrency) for its time. The slow lane attempts it, within the webhook's slots.
      try {
        await this.deps.slowLane.send([{ ...message, forwarded: true }]);
      } catch (err) {
        return this.bookkeepingFailed(ctx, received, err, "slow lane forward");
      }
      this.deps.metrics.count(METRICS.forwardedToSlowLane);
      return;
    }
    // Released deliveries keep to the release rate where it matters, at the endpoint: the release's
    // DelaySeconds spread them, but a batching window (or a backlog) can bring several seconds' worth at once.
    const rate = message.released ? Math.min(sub.rateLimit ?? Number.POSITIVE_INFINITY, this.deps.policy.releaseRate ?? HEALTH.releaseRate) : sub.rateLimit;
    if (
      rate &&
      !message.probe &&
      !(await this.deps.health.takeRate(sub.tenantId, sub.id, { second: Math.floor(now / 1000), limit: rate }).catch(() => false))
    ) {
      return park("rate", now + 1_000);
    }
    let lease: number | undefined;
    if (isSlow(sub, now) && !message.probe) {
      lease = await this.takeSlot(sub, now);
      if (lease === undefined) return park("busy", now + Math.max(1_000, sub.slowMs ?? 1_000));
    }

    let result: HttpResult;
    try {
      result = await this.attempt(sub, message);
    } finally {
      if (lease !== undefined)
        await this.deps.health.freeSlot(sub.tenantId, sub.id, lease).catch((err) => this.noteBookkeepingFailure(err, "slot release", log));
    }
    if (result.durationMs > HEALTH.slowAttemptMs) await this.noteSlow(sub, result.durationMs, log);
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
      const w: AttemptWrite = { message, attempt, status: "succeeded", roundStart, round, nowIso, previousAttempts };
      if (!record) ctx.created.push(w);
      else {
        try {
          await this.deps.deliveries.write(w);
        } catch (err) {
          // Delivered: the message is done with whatever the log says; attempting again would double it.
          this.noteBookkeepingFailure(err, "record of a successful attempt", log);
        }
      }
      if (sub.failingSince || sub.consecutiveFailures || sub.circuit || message.probe) {
        // The streak ends; a probe's success (or any success while open) closes the circuit.
        const close = Boolean(sub.circuit || message.probe);
        try {
          await this.successes.call(subKey(sub.tenantId, sub.id), { tenantId: sub.tenantId, id: sub.id, nowIso, close, log });
          this.cache.delete(subKey(sub.tenantId, sub.id));
        } catch (err) {
          this.noteBookkeepingFailure(err, "failing streak reset", log);
        }
      }
      this.deps.metrics.count("DeliveriesSucceeded");
      if (received.sentAt) this.deps.metrics.milliseconds("DeliveryLatency", clock.now() - received.sentAt);
      this.deps.onAttempt?.({ message, attempt, outcome: "succeeded" });
      return logger.debug("delivered", { ...log, attempt: attemptNumber, statusCode: result.statusCode, durationMs: result.durationMs });
    }

    logger.warn("attempt failed", { ...log, attempt: attemptNumber, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs });
    let circuitOpen = false;
    try {
      if (result.statusCode === 410) {
        await this.disable(sub, "the endpoint answered 410 Gone", nowIso);
        await this.deps.deliveries.write({
          message,
          attempt,
          status: "failed",
          roundStart,
          round,
          nowIso,
          previousAttempts,
          reason: "endpoint answered 410 Gone",
        });
        this.deps.metrics.count("DeliveriesFailed");
        this.deps.onAttempt?.({ message, attempt, outcome: "failed" });
        return;
      }
      const health = await this.noteFailure(sub, nowIso, message, log);
      if (health.disabled) {
        await this.deps.deliveries.write({
          message,
          attempt,
          status: "failed",
          roundStart,
          round,
          nowIso,
          previousAttempts,
          reason: "subscription auto-disabled",
        });
        this.deps.metrics.count("DeliveriesFailed");
        this.deps.onAttempt?.({ message, attempt, outcome: "failed" });
        return;
      }
      circuitOpen = health.open;
    } catch (err) {
      return this.bookkeepingFailed(ctx, received, err, "disable");
    }

    const retryAfter = result.statusCode === 429 || result.statusCode === 503 ? parseRetryAfter(result.retryAfter, clock.now()) : undefined;
    let delay = this.deps.schedule.delayAfter(roundAttempt, retryAfter);
    if (delay === undefined) {
      this.deps.onAttempt?.({ message, attempt, outcome: "failed" });
      return this.deadLetter(ctx, received, message, { roundStart, round, nowIso, attempt, previousAttempts, reason: "retry schedule exhausted" });
    }
    if (circuitOpen || delay > (this.deps.policy.maxQueuedBackoffSeconds ?? HEALTH.maxQueuedBackoffSeconds)) {
      // Not held in flight: an open circuit's retries, and backoffs longer than the queue should hold, wait parked.
      // If parking fails, the message is held for the attempt's backoff as before (never sooner).
      this.deps.onAttempt?.({ message, attempt, outcome: "retrying", nextDelaySeconds: delay });
      return park(
        circuitOpen ? "circuit" : "backoff",
        circuitOpen ? Math.min(clock.now(), acceptedAt(message)) : clock.now() + delay * 1000,
        { attempt },
        delay,
      );
    }
    const nextAttemptAt = new Date(clock.now() + delay * 1000).toISOString();
    try {
      await this.deps.deliveries.write({ message, attempt, status: "pending", roundStart, round, nowIso, nextAttemptAt, previousAttempts });
    } catch (err) {
      // The attempt is not in the log, so the record's count lags: the receive count (≥ the attempts
      // this message made) keeps the schedule moving, never to its end.
      this.noteBookkeepingFailure(err, "record of a failed attempt", log);
      const step = Math.max(roundAttempt, Math.min(received.receiveCount ?? 1, this.deps.schedule.maxAttempts - 1));
      delay = Math.max(delay, this.deps.schedule.delayAfter(step, retryAfter) ?? delay);
    }
    this.deps.onAttempt?.({ message, attempt, outcome: "retrying", nextDelaySeconds: delay });
    return this.later(ctx, received, delay);
  }

  /**
   * Hides the message for `seconds` (its backoff, applied by `finish`) and throws RetryLater. SQS
   * refuses a visibility that would reach past 12 h from the receive, so the change asks for no more
   * than the receive has left; the rest is served when the message comes back (the record's
   * `nextAttemptAt` holds it again).
   */
  private later(ctx: BatchContext, received: ReceivedMessage, seconds: number): never {
    ctx.backoffs.push({ receiptHandle: received.receiptHandle, seconds: Math.min(seconds, this.visibilityLeft(ctx, received)) });
    const message = ctx.messages.get(received.messageId);
    throw new RetryLater(message?.deliveryId ?? received.messageId, seconds);
  }

  /** Seconds of visibility the message's receive has left, less a margin for the rest of the invocation. */
  visibilityLeft(ctx: BatchContext, received: ReceivedMessage): number {
    const receivedAt = received.receivedAt ?? ctx.preparedAt - QUEUE.visibilityTimeoutSeconds * 1000;
    const elapsed = Math.ceil((this.deps.clock.now() - receivedAt) / 1000);
    return Math.max(0, MAX_VISIBILITY_TIMEOUT_SECONDS - elapsed - QUEUE.visibilityMarginSeconds);
  }

  private noteBookkeepingFailure(err: unknown, what: string, log: Record<string, unknown>): void {
    this.deps.metrics.count(BOOKKEEPING_WRITE_FAILURES);
    this.deps.logger.error(`bookkeeping write failed: ${what}`, { ...log, error: err as Error });
  }

  /** A write the message's fate depends on failed: counted, and the message waits a backoff before it is decided again. */
  private bookkeepingFailed(ctx: BatchContext, received: ReceivedMessage, err: unknown, what: string): never {
    const m = ctx.messages.get(received.messageId);
    this.noteBookkeepingFailure(err, what, { deliveryId: m?.deliveryId, tenantId: m?.tenantId, webhookId: m?.webhookId });
    return this.later(ctx, received, bookkeepingDelay(received));
  }

  /**
   * Writes the batch's first-attempt records and applies its backoffs, one request each; called after
   * every message is decided. Never throws: a failed invocation would bring back the batch's
   * delivered messages too, and POST them again.
   */
  async finish(ctx: BatchContext): Promise<void> {
    // One item per delivery: DynamoDB refuses a BatchWriteItem that names a key twice.
    const created = [...new Map(ctx.created.map((w) => [w.message.deliveryId, w])).values()];
    const [writes, visibility] = await Promise.allSettled([
      created.length > 0 ? this.deps.deliveries.createMany(created) : undefined,
      ctx.backoffs.length > 0 ? this.deps.queue.changeVisibility(ctx.backoffs) : undefined,
    ]);
    if (writes.status === "rejected") {
      // Delivered at the first attempt; only the log misses them (an error line carries each).
      this.deps.metrics.count(BOOKKEEPING_WRITE_FAILURES, created.length);
      this.deps.logger.error("first-attempt records not written", { error: writes.reason as Error, deliveryIds: created.map((w) => w.message.deliveryId) });
    }
    if (visibility.status === "rejected") {
      // Those messages come back after the queue's visibility timeout; their record's nextAttemptAt hides them again.
      this.deps.metrics.count("VisibilityChangeFailures", ctx.backoffs.length);
      this.deps.logger.error("backoffs not applied", { error: visibility.reason as Error, messages: ctx.backoffs.length });
    }
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
    ctx: BatchContext,
    received: ReceivedMessage,
    message: DeliveryMessage,
    w: { roundStart: number; round?: string; nowIso: string; attempt?: Attempt; previousAttempts: number; reason: string },
  ): Promise<void> {
    const deadLetteredAt = w.nowIso;
    const { recovery: _r, released: _l, probe: _p, forwarded: _f, ...rest } = message;
    try {
      await this.deps.queue.deadLetter({ ...rest, deadLetteredAt });
    } catch (err) {
      this.deps.logger.error("sending to the DLQ failed; the message waits and tries again", { deliveryId: message.deliveryId, error: err as Error });
      return this.later(ctx, received, bookkeepingDelay(received));
    }
    try {
      await this.deps.deliveries.write({
        message,
        attempt: w.attempt,
        status: "failed",
        roundStart: w.roundStart,
        round: w.round,
        nowIso: w.nowIso,
        deadLetteredAt,
        reason: w.reason,
        previousAttempts: w.previousAttempts,
      });
    } catch (err) {
      // The DLQ holds it: done here; the log still says pending.
      this.noteBookkeepingFailure(err, "record of a dead-lettered delivery", {
        deliveryId: message.deliveryId,
        tenantId: message.tenantId,
        webhookId: message.webhookId,
      });
    }
    this.deps.metrics.count("DeliveriesFailed");
    this.deps.metrics.count("DlqMoves");
    this.deps.logger.warn("delivery failed and was sent to the DLQ", {
      deliveryId: message.deliveryId,
      tenantId: message.tenantId,
      webhookId: message.webhookId,
      reason: w.reason,
    });
  }

  /**
   * Counts the failed attempt on the webhook (one additive write): opens its circuit at the threshold
   * (one conditional write, so concurrent λs open it once) and auto-disables it after its failing
   * streak's length. A failed probe leaves the circuit open.
   */
  private async noteFailure(
    sub: Subscription,
    nowIso: string,
    message: DeliveryMessage,
    log: Record<string, unknown>,
  ): Promise<{ disabled: boolean; open: boolean }> {
    const { health, policy } = this.deps;
    let now: Subscription | undefined;
    try {
      now = await this.failures.call(subKey(sub.tenantId, sub.id), { tenantId: sub.tenantId, id: sub.id, nowIso });
    } catch (err) {
      // Not counted (throttled): the attempt's own record and backoff still stand.
      this.noteBookkeepingFailure(err, "failure count", log);
      return { disabled: false, open: false };
    }
    if (!now) {
      this.cache.delete(subKey(sub.tenantId, sub.id));
      return { disabled: false, open: false };
    }
    this.refreshHealth(now);
    const failingSince = now.failingSince ?? nowIso;
    const failingForSeconds = (Date.parse(nowIso) - Date.parse(failingSince)) / 1000;
    if (failingForSeconds >= this.deps.autoDisableAfterSeconds) {
      const days = Math.round((failingForSeconds / 86_400) * 10) / 10;
      await this.disable(now, `every attempt failed for ${days} days (since ${failingSince})`, nowIso);
      return { disabled: true, open: false };
    }
    if (message.probe) {
      await health.probeFailed(sub.tenantId, sub.id).catch((err) => this.noteBookkeepingFailure(err, "probe outcome", log));
      return { disabled: false, open: true };
    }
    if (now.circuit) return { disabled: false, open: true };
    if ((now.consecutiveFailures ?? 0) < policy.breakerThreshold) return { disabled: false, open: false };
    try {
      await this.opens.call(subKey(sub.tenantId, sub.id), { sub: now, nowIso, log });
    } catch (err) {
      this.noteBookkeepingFailure(err, "circuit opening", log);
      return { disabled: false, open: false };
    }
    return { disabled: false, open: true };
  }

  /**
   * The webhook as a health write returned it, into the cache: the next batches see its streak and
   * circuit without reading it again (its secrets, already opened, are kept; the entry keeps its age).
   */
  private refreshHealth(fresh: Subscription): void {
    const key = subKey(fresh.tenantId, fresh.id);
    const cached = this.cache.get(key);
    if (!cached?.sub) return;
    const { secrets: _s, ...health } = fresh;
    this.cache.set(key, { sub: { ...health, secrets: cached.sub.secrets }, at: cached.at });
  }

  /** Opens the circuit (one conditional write: concurrent λs open it once). */
  private async openCircuit(sub: Subscription, nowIso: string, log: Record<string, unknown>): Promise<void> {
    const { policy } = this.deps;
    const nextProbeAt = new Date(Date.parse(nowIso) + policy.probeIntervalSeconds * 1000).toISOString();
    if (
      await this.deps.health.openCircuit(sub.tenantId, sub.id, {
        threshold: policy.breakerThreshold,
        nowIso,
        nextProbeAt,
        probeIntervalSeconds: policy.probeIntervalSeconds,
      })
    ) {
      this.deps.metrics.count(METRICS.circuitsOpened);
      this.deps.logger.warn("circuit opened: deliveries to this webhook are parked until a probe succeeds", {
        ...log,
        consecutiveFailures: sub.consecutiveFailures,
        nextProbeAt,
      });
    }
  }

  /**
   * Parks the delivery (its record written with the attempt it just made, if any), tells the webhook's
   * health when to look at it, and finishes with the message: it is deleted from the queue. A failed
   * write keeps the message instead (a bookkeeping backoff), so nothing is parked without a wake.
   */
  private async park(
    ctx: BatchContext,
    received: ReceivedMessage,
    w: AttemptWrite,
    sub: Subscription,
    record: DeliveryRecord | undefined,
    reason: ParkReason,
    dueAtMs: number,
    fallbackSeconds?: number,
  ): Promise<void> {
    const { message } = w;
    const dueAt = new Date(dueAtMs).toISOString();
    const windowEndsAt = record?.windowEndsAt ?? new Date(this.windowStart(record, w) + this.deps.schedule.totalSeconds * 1000).toISOString();
    try {
      await this.deps.deliveries.park({ ...w, reason, dueAt, windowEndsAt });
      // When the release λ must look: a held delivery at the next probe (open) or its window's end
      // (paused); the others when due. A wake already at or before that needs no conditional write.
      const wakeBy = reason === "circuit" && sub.nextProbeAt ? [dueAt, sub.nextProbeAt].sort()[1] : reason === "paused" ? windowEndsAt : dueAt;
      const sooner = !(sub.wakeAt !== undefined && sub.wakeAt <= wakeBy);
      await this.parks.call(subKey(message.tenantId, message.webhookId), {
        tenantId: message.tenantId,
        id: message.webhookId,
        count: record?.parked ? 0 : 1,
        dueAt: wakeBy,
        nowIso: w.nowIso,
        sooner,
      });
    } catch (err) {
      if (fallbackSeconds === undefined) return this.bookkeepingFailed(ctx, received, err, "park");
      this.noteBookkeepingFailure(err, "park", { deliveryId: message.deliveryId, tenantId: message.tenantId, webhookId: message.webhookId });
      return this.later(ctx, received, fallbackSeconds);
    }
    this.deps.metrics.count(METRICS.deliveriesParked);
    this.deps.logger.info(`delivery parked (${reason})`, { deliveryId: message.deliveryId, tenantId: message.tenantId, webhookId: message.webhookId, dueAt });
  }

  /** When the delivery's retry window began: its round's first attempt (this one, if it is that), or now if it had none. */
  private windowStart(record: DeliveryRecord | undefined, w: AttemptWrite): number {
    const now = Date.parse(w.nowIso);
    if (!record || record.attemptCount <= w.roundStart) return now;
    const first = record.attempts.find((a) => a.n === w.roundStart + 1);
    return first ? Date.parse(first.at) : now;
  }

  /** A lease on one of a slow webhook's in-progress slots, or undefined when all are taken (or the write failed). */
  private async takeSlot(sub: Subscription, now: number): Promise<number | undefined> {
    // A lease is its end (ms) × 1000 plus this process's next sequence number, so two deliveries of a
    // batch started in the same millisecond cannot share one slot; the store refuses a lease already
    // held (two λs drawing the same number), and ended leases (dead workers) are dropped.
    const lease = (now + HEALTH.slotLeaseSeconds * 1000) * 1000 + (leaseSeq++ % 1000);
    const expired = [...(sub.slots ?? [])].filter((l) => l / 1000 < now);
    try {
      return (await this.deps.health.takeSlot(sub.tenantId, sub.id, { lease, limit: HEALTH.slowInProgress, expired })) ? lease : undefined;
    } catch {
      return undefined;
    } finally {
      this.cache.delete(subKey(sub.tenantId, sub.id));
    }
  }

  /** An attempt took long: the webhook is (still) slow, and its requests in progress are bounded from now on. */
  private async noteSlow(sub: Subscription, durationMs: number, log: Record<string, unknown>): Promise<void> {
    const now = this.deps.clock.now();
    if (sub.slowUntil && Date.parse(sub.slowUntil) > now + (HEALTH.slowForSeconds * 1000) / 2) return;
    try {
      await this.deps.health.markSlow(sub.tenantId, sub.id, { slowUntil: new Date(now + HEALTH.slowForSeconds * 1000).toISOString(), slowMs: durationMs });
      this.cache.delete(subKey(sub.tenantId, sub.id));
    } catch (err) {
      this.noteBookkeepingFailure(err, "slow mark", log);
    }
  }

  private async disable(sub: Subscription, reason: string, nowIso: string): Promise<void> {
    // Its parked deliveries are released (and skipped) from the start of the parked set.
    await this.deps.subscriptions.update(sub.tenantId, sub.id, {
      enabled: false,
      disabledReason: reason,
      disabledAt: nowIso,
      failingSince: null,
      releasedThrough: releaseReset(nowIso),
      updatedAt: nowIso,
    });
    this.cache.delete(subKey(sub.tenantId, sub.id));
    this.deps.metrics.count("AutoDisables");
    this.deps.logger.warn("subscription disabled", { tenantId: sub.tenantId, webhookId: sub.id, reason });
  }
}

/** Marked slow and the mark has not run out: its requests in progress are bounded. */
function isSlow(sub: Subscription, now: number): boolean {
  return sub.slowUntil !== undefined && Date.parse(sub.slowUntil) > now;
}

/**
 * How long a message waits when its bookkeeping failed (DynamoDB throttling or down): 1, 2, 4, 8, then
 * 15 minutes by receive count, so an outage of hours spends few receives of maxReceiveCount.
 */
/** The low three digits of this process's slot leases: a random start, then one more per lease. */
let leaseSeq = randomInt(1000);

export function bookkeepingDelay(received: ReceivedMessage): number {
  const n = Math.max(1, received.receiveCount ?? 1);
  return Math.min(60 * 2 ** Math.min(n - 1, 4), QUEUE.maxDelaySeconds);
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
