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
import {
  bookkeepingDelay,
  checkCopy,
  EXHAUSTED,
  EXHAUSTED_REASON,
  FORWARDED,
  heldSince,
  isFresh,
  isOutcome,
  readMessage,
  SUCCEEDED,
  UNREADABLE,
  type Outcome,
} from "./delivery-decision.ts";

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
  /** Deliveries a copy already stands for in this batch: a second copy of one (at-least-once SQS) is dropped. */
  readonly seen: Set<string>;
}

/** Bookkeeping that failed while the attempt itself was decided (docs/operations.md); the stack alarms on it. */
export const BOOKKEEPING_WRITE_FAILURES = METRICS.bookkeepingWriteFailures;
export const BOOKKEEPING_READ_FAILURES = "BookkeepingReadFailures";

const subKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;

/** The ids every log line about a delivery carries. */
type LogFields = {
  readonly deliveryId: string;
  readonly eventId: string;
  readonly tenantId: string;
  readonly webhookId: string;
};

/** One readable message of the batch, with its record (if the batch read one). */
interface Delivery {
  readonly received: ReceivedMessage;
  readonly message: DeliveryMessage;
  readonly record: DeliveryRecord | undefined;
  readonly log: LogFields;
}

/** A delivery past the copy checks: its round, its webhook as the batch read it, and the decision's time. */
interface Plan extends Delivery {
  readonly round: string | undefined;
  readonly roundStart: number;
  /** Attempts the record held before this receive (0 without a record). */
  readonly previousAttempts: number;
  /** Absent: the webhook was deleted. */
  readonly sub: Subscription | undefined;
  readonly now: number;
  /** The attempt's time and every write's. */
  readonly nowIso: string;
}

/** Through the webhook's gate: to be attempted now, within a slot lease if the webhook is slow. */
interface Ready extends Plan {
  readonly sub: Subscription;
  readonly lease?: number;
}

interface Tried extends Ready {
  readonly attempt: Attempt;
  readonly result: HttpResult;
}

/** How far a message got when its outcome was decided (only its receipt, when it is no delivery message). */
type Stage = { readonly received: ReceivedMessage } | Delivery | Plan | Tried;

type Parked = Extract<Outcome, { kind: "parked" }>;
type Retry = Extract<Outcome, { kind: "retry" }>;

const parked = (reason: ParkReason, dueAtMs: number): Parked => ({ kind: "parked", reason, dueAtMs });
const logFields = (m: DeliveryMessage): LogFields => ({ deliveryId: m.deliveryId, eventId: m.eventId, tenantId: m.tenantId, webhookId: m.webhookId });
/** This attempt's number within the delivery's round (the schedule's step). */
const roundAttempt = (p: Plan) => p.previousAttempts + 1 - p.roundStart;

/**
 * The deliver λ's core. Each message goes through stages (docs/delivery-semantics.md): `admit` (the
 * copy checks), `gate` (the webhook: deleted, disabled, paused, circuit open, slow, over its rate),
 * `attempt` (sign and POST), `settle` (what the answer means for the webhook and the schedule). Any
 * stage may end with an `Outcome`; `conclude` alone turns it into the record, the queue's side, the
 * log line and the metrics. The attempt count is the delivery record's, never SQS's ApproximateReceiveCount.
 */
export class DeliveryService {
  private cache = new Map<string, { sub: Subscription | undefined; at: number }>();
  // A webhook's health writes, coalesced: a burst of attempts of one webhook costs a few writes of its item, not one each.
  private readonly failures: Coalescer<{ tenantId: string; id: string; nowIso: string }, Subscription | undefined>;
  private readonly successes: Coalescer<{ tenantId: string; id: string; nowIso: string; close: boolean; log: LogFields }, void>;
  private readonly opens: Coalescer<{ sub: Subscription; nowIso: string; log: LogFields }, void>;
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

  /** Reads the batch's subscriptions (through the subscription cache, `subscriptionCacheMs`) and existing delivery records. */
  async prepare(batch: readonly ReceivedMessage[]): Promise<BatchContext> {
    const messages = new Map<string, DeliveryMessage | undefined>();
    for (const m of batch) messages.set(m.messageId, readMessage(m.body));
    const parsed = [...messages.values()].filter((m): m is DeliveryMessage => m !== undefined);
    // Most first attempts cost no record read at all (`isFresh`).
    const now = this.deps.clock.now();
    const recoveryDelaySeconds = this.deps.recoveryDelaySeconds ?? RECOVERY_DELAY_SECONDS;
    // One key per delivery: two copies of one in a batch are normal (at-least-once SQS, redrives), and
    // DynamoDB refuses a BatchGetItem that names a key twice.
    const needRecords = new Map<string, DeliveryMessage>();
    for (const r of batch) {
      const m = messages.get(r.messageId);
      if (m && !isFresh(m, r.receiveCount, now, recoveryDelaySeconds)) needRecords.set(m.deliveryId, m);
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
   * Delivers one message: admit → gate → attempt → settle, each of which may decide its outcome, and
   * `conclude` carries the outcome out. Returns when the message is finished with (delete it); throws
   * RetryLater when it must come back after its backoff.
   */
  async deliver(ctx: BatchContext, received: ReceivedMessage): Promise<void> {
    const message = ctx.messages.get(received.messageId);
    if (!message) return this.conclude(ctx, { received }, UNREADABLE);
    const d: Delivery = { received, message, record: ctx.records.get(message.deliveryId), log: logFields(message) };
    const plan = this.admit(ctx, d);
    if (isOutcome(plan)) return this.conclude(ctx, d, plan);
    const ready = await this.gate(plan);
    if (isOutcome(ready)) return this.conclude(ctx, plan, ready);
    const tried = await this.attempt(ready);
    return this.conclude(ctx, tried, await this.settle(tried));
  }

  /**
   * The copy checks (`checkCopy`), once per delivery and batch. Only a copy that stands for its
   * delivery (not dropped) claims it in the batch: a dropped one (an ingest retry's, a stale round's,
   * a pre-park one) must not make the live copy beside it a "second copy", which would lose it.
   */
  private admit(ctx: BatchContext, d: Delivery): Plan | Outcome {
    const { received, message, record } = d;
    if (ctx.unavailable) return this.bookkeepingWait(received);
    if (ctx.seen.has(message.deliveryId)) return { kind: "dropped", reason: "second copy of a delivery in one batch dropped" };
    const now = this.deps.clock.now();
    const copy = checkCopy(message, record, now);
    if (isOutcome(copy) && copy.kind === "dropped") return copy;
    ctx.seen.add(message.deliveryId);
    if (isOutcome(copy)) return copy;
    if (copy.redriven) this.deps.logger.info("redriven delivery starts a fresh retry schedule", { ...d.log, previousAttempts: record?.attemptCount });
    return {
      ...d,
      round: copy.round,
      roundStart: copy.roundStart,
      previousAttempts: record?.attemptCount ?? 0,
      sub: ctx.subscriptions.get(subKey(message.tenantId, message.webhookId)),
      now,
      nowIso: new Date(now).toISOString(),
    };
  }

  /**
   * The webhook's gate (docs/delivery-semantics.md, "Endpoint health"): deleted or disabled → skipped;
   * its schedule already run out → exhausted; paused or circuit open → parked, due since its
   * acceptance; slow → the slow lane, or parked while its slots are taken; over its rate → parked,
   * due in a second. A probe passes the circuit, the slow lane, the rate and the slots.
   */
  private async gate(p: Plan): Promise<Ready | Outcome> {
    const { sub, message, now } = p;
    if (!sub || !sub.enabled) return { kind: "skipped", reason: sub ? "subscription is disabled" : "subscription was deleted" };
    // The schedule ran out but the message survived (a crash after the last attempt): finish it.
    if (roundAttempt(p) > this.deps.schedule.maxAttempts) return EXHAUSTED;
    const probe = message.probe === true;
    if (sub.paused) return parked("paused", heldSince(message, now));
    if (sub.circuit && !probe) return parked("circuit", heldSince(message, now));
    const slow = isSlow(sub, now) && !probe;
    // Not attempted here: a slow attempt would hold this whole batch's invocation (the main lane's
    // concurrency) for its time. The slow lane attempts it, within the webhook's slots.
    if (slow && this.deps.slowLane) return FORWARDED;
    if (!probe && !(await this.withinRate(sub, message, now))) return parked("rate", now + 1_000);
    if (!slow) return { ...p, sub };
    const lease = await this.takeSlot(sub, now);
    return lease === undefined ? parked("busy", now + Math.max(1_000, sub.slowMs ?? 1_000)) : { ...p, sub, lease };
  }

  /**
   * Takes one of the webhook's sends of this second, if it has a rate. Released deliveries keep to the
   * release rate too, where it matters, at the endpoint: the release's DelaySeconds spread them, but a
   * batching window (or a backlog) can bring several seconds' worth at once. A failed rate write
   * counts as over the rate: parked for a second, never sent past the limit.
   */
  private async withinRate(sub: Subscription, message: DeliveryMessage, now: number): Promise<boolean> {
    const rate = message.released ? Math.min(sub.rateLimit ?? Number.POSITIVE_INFINITY, this.deps.policy.releaseRate ?? HEALTH.releaseRate) : sub.rateLimit;
    if (!rate) return true;
    return this.deps.health.takeRate(sub.tenantId, sub.id, { second: Math.floor(now / 1000), limit: rate }).catch(() => false);
  }

  /** Signs and POSTs (the slot lease, if any, freed after), then counts and times the attempt and logs a failed one. */
  private async attempt(r: Ready): Promise<Tried> {
    const { metrics, logger } = this.deps;
    let result: HttpResult;
    try {
      result = await this.post(r.sub, r.message);
    } finally {
      if (r.lease !== undefined)
        await this.deps.health.freeSlot(r.sub.tenantId, r.sub.id, r.lease).catch((err) => this.noteBookkeepingFailure(err, "slot release", r.log));
    }
    if (result.durationMs > HEALTH.slowAttemptMs) await this.noteSlow(r.sub, result.durationMs, r.log);
    const { statusCode, error, durationMs, responseExcerpt } = result;
    const attempt: Attempt = { n: r.previousAttempts + 1, at: r.nowIso, statusCode, error, durationMs, responseExcerpt };
    metrics.count("Attempts");
    metrics.milliseconds("EndpointResponseTime", durationMs);
    if (error !== undefined) logger.warn("attempt failed", { ...r.log, attempt: attempt.n, statusCode, error, durationMs });
    return { ...r, attempt, result };
  }

  /**
   * What the answer means. A 2xx: succeeded. Otherwise the webhook hears of the failure first: a 410,
   * or a failing streak as long as `autoDisableAfterSeconds`, disables it and fails the delivery with
   * it; the breaker threshold opens its circuit. Then the schedule decides (`backoff`).
   */
  private async settle(t: Tried): Promise<Outcome> {
    if (t.result.error === undefined) return SUCCEEDED;
    let circuit: "open" | "closed" | "disabled";
    try {
      if (t.result.statusCode === 410) {
        await this.disable(t.sub, "the endpoint answered 410 Gone", t.nowIso);
        return { kind: "failed", reason: "endpoint answered 410 Gone" };
      }
      circuit = await this.noteFailure(t);
    } catch (err) {
      return this.bookkeepingFailed(t, err, "disable");
    }
    if (circuit === "disabled") return { kind: "failed", reason: "subscription auto-disabled" };
    return this.backoff(t, circuit === "open");
  }

  /**
   * The schedule's next step after a failed attempt (a 429's or 503's Retry-After counts: retry.ts):
   * exhausted; parked, when the circuit is open or the backoff is longer than the queue should hold
   * in flight; else a retry after the backoff. A park that fails holds the message for the backoff.
   */
  private backoff(t: Tried, circuitOpen: boolean): Outcome {
    const { clock, schedule, policy } = this.deps;
    const { statusCode, retryAfter: header } = t.result;
    const retryAfter = statusCode === 429 || statusCode === 503 ? parseRetryAfter(header, clock.now()) : undefined;
    const delay = schedule.delayAfter(roundAttempt(t), retryAfter);
    if (delay === undefined) return EXHAUSTED;
    if (circuitOpen) return { ...parked("circuit", heldSince(t.message, clock.now())), fallbackSeconds: delay };
    if (delay > (policy.maxQueuedBackoffSeconds ?? HEALTH.maxQueuedBackoffSeconds)) {
      return { ...parked("backoff", clock.now() + delay * 1000), fallbackSeconds: delay };
    }
    return { kind: "retry", delaySeconds: delay, retryAfter };
  }

  /**
   * The one place an outcome becomes side effects. First it is made to last (`persist`: the record,
   * the park, the DLQ, the slow lane); a write it stands on that fails turns it into a wait. Then the
   * attempt report, the log line and the metrics. Last the queue's side: return (the message is
   * deleted), or its backoff and RetryLater, or an error that leaves a message that is none on the queue.
   */
  private async conclude(ctx: BatchContext, d: Stage, decided: Outcome): Promise<void> {
    const outcome = "nowIso" in d ? await this.persist(ctx, d, decided) : decided;
    if ("attempt" in d) this.reportAttempt(d, decided, outcome);
    this.report(d, outcome);
    if (outcome.kind === "retry" || outcome.kind === "wait") return this.later(ctx, d.received, outcome.delaySeconds);
    if (outcome.kind === "unreadable") throw new Error(`message ${d.received.messageId} is not a delivery message`);
  }

  /** Writes what the outcome stands on; returns the outcome, or the wait that replaces it when a write it needs failed. */
  private async persist(ctx: BatchContext, p: Plan | Tried, outcome: Outcome): Promise<Outcome> {
    const attempt = "attempt" in p ? p.attempt : undefined;
    const w: AttemptWrite = {
      message: p.message,
      ...(attempt && { attempt }),
      status: "pending",
      roundStart: p.roundStart,
      round: p.round,
      nowIso: p.nowIso,
      previousAttempts: p.previousAttempts,
    };
    switch (outcome.kind) {
      case "succeeded":
        return this.recordSuccess(ctx, p, { ...w, status: "succeeded" });
      case "retry":
        return this.recordRetry(p, w, outcome);
      case "failed":
        return this.recordFinal(p, { ...w, status: "failed", reason: outcome.reason }, "record of a failed delivery", outcome);
      case "skipped":
        return this.recordFinal(p, { ...w, status: "skipped", reason: outcome.reason }, "skip", outcome);
      case "exhausted":
        return this.deadLetter(p, w);
      case "parked":
        return this.park(p, w, outcome);
      case "forwarded":
        return this.forward(p);
      default:
        return outcome;
    }
  }

  /** The log line and the metrics of an outcome as it stands. */
  private report(d: Stage, outcome: Outcome): void {
    const { logger, metrics } = this.deps;
    const log = "log" in d ? d.log : { messageId: d.received.messageId };
    switch (outcome.kind) {
      case "succeeded":
        metrics.count("DeliveriesSucceeded");
        if (d.received.sentAt) metrics.milliseconds("DeliveryLatency", this.deps.clock.now() - d.received.sentAt);
        if ("attempt" in d) logger.debug("delivered", { ...log, attempt: d.attempt.n, statusCode: d.result.statusCode, durationMs: d.result.durationMs });
        break;
      case "failed":
        metrics.count("DeliveriesFailed");
        break;
      case "exhausted":
        metrics.count("DeliveriesFailed");
        metrics.count("DlqMoves");
        logger.warn("delivery failed and was sent to the DLQ", { ...log, reason: EXHAUSTED_REASON });
        break;
      case "parked":
        metrics.count(METRICS.deliveriesParked);
        logger.info(`delivery parked (${outcome.reason})`, { ...log, dueAt: new Date(outcome.dueAtMs).toISOString() });
        break;
      case "forwarded":
        metrics.count(METRICS.forwardedToSlowLane);
        break;
      case "skipped":
        metrics.count("DeliveriesSkipped");
        logger.info(`delivery skipped: ${outcome.reason}`, log);
        break;
      case "dropped":
        logger.info(outcome.reason, log);
        break;
      case "wait":
        if (outcome.why === "not due") metrics.count("BackoffsExtended");
        break;
      case "retry":
        break; // The attempt's own line says why.
      case "unreadable":
        // Nothing to attempt or record: left on the queue, the redrive policy's maxReceiveCount moves it to the DLQ.
        logger.error("malformed delivery message left for the DLQ safety net", log);
        break;
    }
  }

  /** Tells `onAttempt` of every attempt made: its verdict as settled, with the backoff the message was given. */
  private reportAttempt(t: Tried, decided: Outcome, outcome: Outcome): void {
    const verdict = decided.kind === "succeeded" ? "succeeded" : decided.kind === "failed" || decided.kind === "exhausted" ? "failed" : "retrying";
    const report: AttemptReport = { message: t.message, attempt: t.attempt, outcome: verdict };
    if (verdict === "retrying") {
      report.nextDelaySeconds =
        outcome.kind === "retry" || outcome.kind === "wait" ? outcome.delaySeconds : outcome.kind === "parked" ? outcome.fallbackSeconds : undefined;
    }
    this.deps.onAttempt?.(report);
  }

  /**
   * A success: its record (a first attempt's joins the batch's one write in `finish`), then the end of
   * the webhook's failing streak. The message is done whatever the log says: attempting again would double it.
   */
  private async recordSuccess(ctx: BatchContext, p: Plan, w: AttemptWrite): Promise<Outcome> {
    if (!p.record) ctx.created.push(w);
    else await this.deps.deliveries.write(w).catch((err) => this.noteBookkeepingFailure(err, "record of a successful attempt", p.log));
    await this.endStreak(p);
    return SUCCEEDED;
  }

  /** A success ends the webhook's failing streak; a probe's (or any success while open) closes its circuit. */
  private async endStreak(p: Plan): Promise<void> {
    const { sub, message } = p;
    if (!sub || !(sub.failingSince || sub.consecutiveFailures || sub.circuit || message.probe)) return;
    const close = Boolean(sub.circuit || message.probe);
    try {
      await this.successes.call(subKey(sub.tenantId, sub.id), { tenantId: sub.tenantId, id: sub.id, nowIso: p.nowIso, close, log: p.log });
      this.cache.delete(subKey(sub.tenantId, sub.id));
    } catch (err) {
      this.noteBookkeepingFailure(err, "failing streak reset", p.log);
    }
  }

  /**
   * A failed attempt's record: pending, with its next attempt's time. If it cannot be written the
   * backoff stands all the same, and the record's count lags: the receive count (≥ the attempts this
   * message made) keeps the schedule moving, never to its end.
   */
  private async recordRetry(p: Plan, w: AttemptWrite, retry: Retry): Promise<Outcome> {
    const { clock, schedule } = this.deps;
    try {
      await this.deps.deliveries.write({ ...w, nextAttemptAt: new Date(clock.now() + retry.delaySeconds * 1000).toISOString() });
      return retry;
    } catch (err) {
      this.noteBookkeepingFailure(err, "record of a failed attempt", p.log);
      const step = Math.max(roundAttempt(p), Math.min(p.received.receiveCount ?? 1, schedule.maxAttempts - 1));
      return { ...retry, delaySeconds: Math.max(retry.delaySeconds, schedule.delayAfter(step, retry.retryAfter) ?? retry.delaySeconds) };
    }
  }

  /** A record the outcome stands on (failed, skipped): if it cannot be written, the message waits and is decided again. */
  private async recordFinal(p: Plan, w: AttemptWrite, what: string, outcome: Outcome): Promise<Outcome> {
    try {
      await this.deps.deliveries.write(w);
      return outcome;
    } catch (err) {
      return this.bookkeepingFailed(p, err, what);
    }
  }

  /** DLQ first, then the record: a crash in between re-dead-letters, and the stale copy is dropped at redrive. */
  private async deadLetter(p: Plan, w: AttemptWrite): Promise<Outcome> {
    const deadLetteredAt = p.nowIso;
    const { recovery: _r, released: _l, probe: _p, forwarded: _f, ...rest } = p.message;
    try {
      await this.deps.queue.deadLetter({ ...rest, deadLetteredAt });
    } catch (err) {
      this.deps.logger.error("sending to the DLQ failed; the message waits and tries again", { ...p.log, error: err as Error });
      return this.bookkeepingWait(p.received);
    }
    // The DLQ holds it: done here, even if the write fails (the log then still says pending).
    await this.deps.deliveries
      .write({ ...w, status: "failed", deadLetteredAt, reason: EXHAUSTED_REASON })
      .catch((err) => this.noteBookkeepingFailure(err, "record of a dead-lettered delivery", p.log));
    return EXHAUSTED;
  }

  /**
   * Parks the delivery (its record written with the attempt it just made, if any) and tells the
   * webhook's health when to look at it; the message is then deleted. A failed write keeps the message
   * instead (for the attempt's backoff, or a bookkeeping wait), so nothing is parked without a wake.
   */
  private async park(p: Plan, w: AttemptWrite, outcome: Parked): Promise<Outcome> {
    const { message, record, sub } = p;
    const dueAt = new Date(outcome.dueAtMs).toISOString();
    const windowEndsAt = record?.windowEndsAt ?? new Date(windowStart(record, w) + this.deps.schedule.totalSeconds * 1000).toISOString();
    try {
      await this.deps.deliveries.park({ ...w, reason: outcome.reason, dueAt, windowEndsAt });
      // When the release λ must look: a held delivery at the next probe (open) or its window's end
      // (paused); the others when due. A wake already at or before that needs no conditional write.
      const wakeBy = outcome.reason === "circuit" && sub?.nextProbeAt ? [dueAt, sub.nextProbeAt].sort()[1] : outcome.reason === "paused" ? windowEndsAt : dueAt;
      const sooner = !(sub?.wakeAt !== undefined && sub.wakeAt <= wakeBy);
      await this.parks.call(subKey(message.tenantId, message.webhookId), {
        tenantId: message.tenantId,
        id: message.webhookId,
        count: record?.parked ? 0 : 1,
        dueAt: wakeBy,
        nowIso: w.nowIso,
        sooner,
      });
      return outcome;
    } catch (err) {
      this.noteBookkeepingFailure(err, "park", p.log);
      return { kind: "wait", delaySeconds: outcome.fallbackSeconds ?? bookkeepingDelay(p.received.receiveCount), why: "bookkeeping" };
    }
  }

  /** Sends the delivery on to the slow lane, unattempted (the gate forwards only where there is one). */
  private async forward(p: Plan): Promise<Outcome> {
    try {
      await this.deps.slowLane!.send([{ ...p.message, forwarded: true }]);
      return FORWARDED;
    } catch (err) {
      return this.bookkeepingFailed(p, err, "slow lane forward");
    }
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

  private noteBookkeepingFailure(err: unknown, what: string, log: object): void {
    this.deps.metrics.count(BOOKKEEPING_WRITE_FAILURES);
    this.deps.logger.error(`bookkeeping write failed: ${what}`, { ...log, error: err as Error });
  }

  /** The wait of a message whose bookkeeping failed (`bookkeepingDelay`). */
  private bookkeepingWait(received: ReceivedMessage): Outcome {
    return { kind: "wait", delaySeconds: bookkeepingDelay(received.receiveCount), why: "bookkeeping" };
  }

  /** A write the message's fate depends on failed: counted, and the message waits before it is decided again. */
  private bookkeepingFailed(d: Delivery, err: unknown, what: string): Outcome {
    this.noteBookkeepingFailure(err, what, d.log);
    return this.bookkeepingWait(d.received);
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

  /** Signs the payload with every secret that still signs and POSTs it (docs/receiving-webhooks.md). */
  private post(sub: Subscription, message: DeliveryMessage): Promise<HttpResult> {
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

  /**
   * Counts the failed attempt on the webhook (one additive write): opens its circuit at the threshold
   * (one conditional write, so concurrent λs open it once) and auto-disables it after its failing
   * streak's length. A failed probe leaves the circuit open. Says whether the circuit is now open,
   * or the webhook disabled ("closed" too when a count or opening write failed: the attempt's own
   * record and backoff still stand).
   */
  private async noteFailure(t: Tried): Promise<"open" | "closed" | "disabled"> {
    const { health, policy } = this.deps;
    const { sub, nowIso, message, log } = t;
    let counted: Subscription | undefined;
    try {
      counted = await this.failures.call(subKey(sub.tenantId, sub.id), { tenantId: sub.tenantId, id: sub.id, nowIso });
    } catch (err) {
      this.noteBookkeepingFailure(err, "failure count", log);
      return "closed";
    }
    if (!counted) {
      this.cache.delete(subKey(sub.tenantId, sub.id));
      return "closed";
    }
    this.refreshHealth(counted);
    const failingSince = counted.failingSince ?? nowIso;
    const failingForSeconds = (Date.parse(nowIso) - Date.parse(failingSince)) / 1000;
    if (failingForSeconds >= this.deps.autoDisableAfterSeconds) {
      const days = Math.round((failingForSeconds / 86_400) * 10) / 10;
      await this.disable(counted, `every attempt failed for ${days} days (since ${failingSince})`, nowIso);
      return "disabled";
    }
    if (message.probe) {
      await health.probeFailed(sub.tenantId, sub.id).catch((err) => this.noteBookkeepingFailure(err, "probe outcome", log));
      return "open";
    }
    if (counted.circuit) return "open";
    if ((counted.consecutiveFailures ?? 0) < policy.breakerThreshold) return "closed";
    try {
      await this.opens.call(subKey(sub.tenantId, sub.id), { sub: counted, nowIso, log });
    } catch (err) {
      this.noteBookkeepingFailure(err, "circuit opening", log);
      return "closed";
    }
    return "open";
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
  private async openCircuit(sub: Subscription, nowIso: string, log: LogFields): Promise<void> {
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

  /** A lease on one of a slow webhook's in-progress slots, or undefined when all are taken (or the write failed). */
  private async takeSlot(sub: Subscription, now: number): Promise<number | undefined> {
    // Its end (ms) × 1000 plus a suffix, so ended leases (dead workers) can be dropped. The slots are a
    // set: two equal leases would hold one slot, and freeing one would free both. The suffix counts
    // on from a random start, so this process's leases of one millisecond never collide (under 1,000 of
    // them; a random suffix did, for leases taken at once); two workers' collide only if they draw the
    // same of 1,000, and then the store refuses the second (takeSlot's condition).
    leaseSuffix = (leaseSuffix + 1) % 1000;
    const lease = (now + HEALTH.slotLeaseSeconds * 1000) * 1000 + leaseSuffix;
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
  private async noteSlow(sub: Subscription, durationMs: number, log: LogFields): Promise<void> {
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

/** The last slot lease's suffix (`takeSlot`). */
let leaseSuffix = Math.floor(Math.random() * 1000);

/** Marked slow and the mark has not run out: its requests in progress are bounded. */
function isSlow(sub: Subscription, now: number): boolean {
  return sub.slowUntil !== undefined && Date.parse(sub.slowUntil) > now;
}

/** When the delivery's retry window began: its round's first attempt (this one, if it is that), or now if it had none. */
function windowStart(record: DeliveryRecord | undefined, w: AttemptWrite): number {
  const now = Date.parse(w.nowIso);
  if (!record || record.attemptCount <= w.roundStart) return now;
  const first = record.attempts.find((a) => a.n === w.roundStart + 1);
  return first ? Date.parse(first.at) : now;
}
