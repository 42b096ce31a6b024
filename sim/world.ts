import type { CoreLogger, CoreMetrics } from "#core/ports.ts";
import { DeliveryService, type AttemptReport, type DeliveryDeps, type ReceivedMessage } from "#core/delivery.ts";
import { IngestService } from "#core/ingest.ts";
import { RetrySchedule } from "#core/retry.ts";
import { DELIVERY, HEALTH, QUEUE, SLOW_LANE } from "#core/settings.ts";
import { ParkingService, type HealthPolicy } from "#core/parking.ts";
import { createDeliverHandler } from "../lambdas/deliver/app.ts";
import { Ledger, VirtualTime } from "./engine.ts";
import { SimDeliveryLog, SimDynamo, SimEventStore, SimHealthStore, SimSubscriptionStore } from "./ports/dynamo.ts";
import { SimSender } from "./ports/http.ts";
import { SimSecretSealer } from "./ports/kms.ts";
import { SimEventSource, type EventSourceOptions } from "./ports/lambda.ts";
import { SimDeliveryQueue, SimQueue, type SimMessage } from "./ports/sqs.ts";

/** Metrics the core emitted, summed. */
export class CountingMetrics implements CoreMetrics {
  readonly counts = new Map<string, number>();
  count(name: string, value = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + value);
  }
  /** How many times each timing was recorded (its values are not kept). */
  readonly timings = new Map<string, number>();
  milliseconds(name: string): void {
    this.timings.set(name, (this.timings.get(name) ?? 0) + 1);
  }
  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }
}

/** A logger that keeps the last lines of each level (tests read them; the simulator counts them). */
export class MemoryLogger implements CoreLogger {
  readonly lines: { level: string; message: string; extra: Record<string, unknown> }[] = [];
  readonly counts = { debug: 0, info: 0, warn: 0, error: 0 };
  constructor(private readonly keep = 200) {}
  private add(level: "debug" | "info" | "warn" | "error", message: string, extra: Record<string, unknown>[]) {
    this.counts[level]++;
    if (level === "debug") return;
    this.lines.push({ level, message, extra: Object.assign({}, ...extra) });
    if (this.lines.length > this.keep) this.lines.shift();
  }
  debug(m: string, ...e: Record<string, unknown>[]) {
    this.add("debug", m, e);
  }
  info(m: string, ...e: Record<string, unknown>[]) {
    this.add("info", m, e);
  }
  warn(m: string, ...e: Record<string, unknown>[]) {
    this.add("warn", m, e);
  }
  error(m: string, ...e: Record<string, unknown>[]) {
    this.add("error", m, e);
  }
}

export interface WorldOptions {
  schedule?: RetrySchedule;
  /** SQS's in-flight limit, scaled with the scenario (default the real 120,000). */
  inFlightLimit?: number;
  eventSource?: Partial<EventSourceOptions>;
  autoDisableAfterSeconds?: number;
  policy?: Partial<HealthPolicy>;
  onAttempt?: (a: AttemptReport) => void;
  /**
   * Virtual time each request of the release λ takes (the scenarios use 5 ms per DynamoDB request and
   * 15 ms per SQS request; default none, so a test may call `parking.sweep()` without driving time). A
   * sweep issues its requests one after another, thousands when it releases, so whether it fits in its
   * `sweepSeconds` depends on them.
   */
  sweepLatency?: { dynamoMs: number; sqsMs: number };
  /**
   * A what-if, not the product: slow webhooks' deliveries on a queue and event source mapping of their
   * own (the deliver λ forwards a slow-marked webhook's messages there instead of attempting them), so
   * no invocation of the main queue waits for a slow endpoint. Scenario d measures what it would give.
   */
  /** The slow lane's λ concurrency (default SLOW_LANE's); `false`: none, as a stack without one. */
  slowLane?: { concurrency: number } | false;
}

/** `port` with every call first waiting `cost(method, args)` ms of virtual time (the request's latency). */
function withLatency<T extends object>(time: VirtualTime, port: T, cost: (method: string, args: unknown[]) => number): T {
  return new Proxy(port, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== "function") return v;
      return async (...args: unknown[]) => {
        const ms = cost(String(key), args);
        if (ms > 0) await time.sleep(ms);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * Every port of the core on its in-memory, AWS-rule-faithful implementation, sharing one virtual
 * clock: the real IngestService and DeliveryService run on it, and the real deliver λ handler is
 * fed by the simulated event source mapping.
 */
export class World {
  readonly time = new VirtualTime();
  readonly ledger = new Ledger();
  readonly dynamo = new SimDynamo(this.time, this.ledger);
  readonly subscriptions = new SimSubscriptionStore(this.dynamo);
  readonly health = new SimHealthStore(this.dynamo, this.subscriptions);
  readonly events = new SimEventStore(this.dynamo);
  readonly deliveries = new SimDeliveryLog(this.dynamo);
  readonly secrets = new SimSecretSealer(this.ledger);
  readonly dlqQueue: SimQueue;
  readonly mainQueue: SimQueue;
  readonly queue: SimDeliveryQueue;
  readonly sender = new SimSender(this.time);
  readonly metrics = new CountingMetrics();
  readonly logger = new MemoryLogger();
  readonly schedule: RetrySchedule;
  readonly policy: HealthPolicy;
  readonly ingest: IngestService;
  readonly parking: ParkingService;
  readonly delivery: DeliveryService;
  private readonly deliveryDeps: DeliveryDeps;
  readonly esmOptions: EventSourceOptions;
  private esm?: SimEventSource;
  /** The slow lane's queue, its service and its event source mapping (settings SLOW_LANE), unless `slowLane: false`. */
  slowQueue?: SimQueue;
  slowDelivery?: DeliveryService;
  slowEsm?: SimEventSource;
  private readonly slowLane?: { concurrency: number };

  constructor(o: WorldOptions = {}) {
    this.schedule = o.schedule ?? new RetrySchedule();
    this.policy = {
      breakerThreshold: HEALTH.breakerThreshold,
      probeIntervalSeconds: HEALTH.probeIntervalSeconds,
      maxProbeIntervalSeconds: HEALTH.maxProbeIntervalSeconds,
      releaseRate: HEALTH.releaseRate,
      sweepSeconds: HEALTH.sweepSeconds,
      ...o.policy,
    };
    const limit = o.inFlightLimit ?? QUEUE.maxInFlight;
    this.dlqQueue = new SimQueue(this.time, this.ledger, { name: "dlq", visibilityTimeoutSeconds: 30, inFlightLimit: limit });
    this.mainQueue = new SimQueue(this.time, this.ledger, {
      name: "delivery",
      visibilityTimeoutSeconds: QUEUE.visibilityTimeoutSeconds,
      inFlightLimit: limit,
      maxReceiveCount: QUEUE.maxReceiveCount,
      dlq: this.dlqQueue,
    });
    this.queue = new SimDeliveryQueue(this.mainQueue, this.dlqQueue);
    this.ingest = new IngestService({
      subscriptions: this.subscriptions,
      events: this.events,
      queue: this.queue,
      clock: this.time,
      logger: this.logger,
      metrics: this.metrics,
      subscriptionCacheMs: DELIVERY.subscriptionCacheMs,
    });
    this.deliveryDeps = {
      subscriptions: this.subscriptions,
      health: this.health,
      policy: this.policy,
      secrets: this.secrets,
      deliveries: this.deliveries,
      queue: this.queue,
      sender: this.sender,
      clock: this.time,
      schedule: this.schedule,
      logger: this.logger,
      metrics: this.metrics,
      attemptTimeoutMs: DELIVERY.attemptTimeoutMs,
      autoDisableAfterSeconds: o.autoDisableAfterSeconds ?? DELIVERY.autoDisableAfterSeconds,
      subscriptionCacheMs: DELIVERY.subscriptionCacheMs,
      onAttempt: o.onAttempt,
    };
    this.slowLane = o.slowLane === false ? undefined : (o.slowLane ?? { concurrency: SLOW_LANE.concurrency });
    if (this.slowLane) {
      const slowQueue = new SimQueue(this.time, this.ledger, {
        name: "slow",
        visibilityTimeoutSeconds: QUEUE.visibilityTimeoutSeconds,
        inFlightLimit: limit,
        maxReceiveCount: QUEUE.maxReceiveCount,
        dlq: this.dlqQueue,
      });
      const slowPort = new SimDeliveryQueue(slowQueue, this.dlqQueue);
      this.slowQueue = slowQueue;
      // As the deliver λ's wiring does it: the slow lane's service backs off on its own queue; the main one forwards to it.
      this.slowDelivery = new DeliveryService({ ...this.deliveryDeps, queue: slowPort });
      this.delivery = new DeliveryService({ ...this.deliveryDeps, slowLane: { send: (messages) => slowPort.send(messages) } });
    } else this.delivery = new DeliveryService(this.deliveryDeps);
    const latency = o.sweepLatency;
    const dynamo = () => latency?.dynamoMs ?? 0;
    // SQS calls of the release λ: one request per 10 messages sent.
    const sqs = (method: string, args: unknown[]) => (method === "sendDelayed" ? Math.ceil((args[0] as unknown[]).length / 10) : 1) * (latency?.sqsMs ?? 0);
    this.parking = new ParkingService({
      health: latency ? withLatency(this.time, this.health, dynamo) : this.health,
      deliveries: latency ? withLatency(this.time, this.deliveries, dynamo) : this.deliveries,
      queue: latency ? withLatency(this.time, this.queue, sqs) : this.queue,
      clock: this.time,
      schedule: this.schedule,
      policy: this.policy,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.esmOptions = {
      batchSize: QUEUE.batchSize,
      maxBatchingWindowSeconds: QUEUE.maxBatchingWindowSeconds,
      maxConcurrency: QUEUE.maxConcurrency,
      reservedConcurrency: QUEUE.reservedConcurrency,
      invocationOverheadMs: 40,
      timeoutSeconds: QUEUE.deliverTimeoutSeconds,
      ...o.eventSource,
    };
  }

  /** Starts the deliver λ's event source mappings: the delivery queue's, and the slow lane's. */
  startDelivering(): SimEventSource {
    this.esm = new SimEventSource(this.time, this.mainQueue, () => createDeliverHandler(this.delivery), this.esmOptions);
    this.esm.start();
    if (this.slowQueue && this.slowDelivery && this.slowLane) {
      const slow = this.slowDelivery;
      const concurrency = this.slowLane.concurrency;
      this.slowEsm = new SimEventSource(this.time, this.slowQueue, () => createDeliverHandler(slow), {
        ...this.esmOptions,
        batchSize: SLOW_LANE.batchSize,
        maxConcurrency: concurrency,
        reservedConcurrency: concurrency,
      });
      this.slowEsm.start();
    }
    return this.esm;
  }

  stopDelivering(): void {
    this.esm?.stop();
    this.slowEsm?.stop();
    this.sweeping = false;
  }

  private sweeping = false;
  /** What the sweeps did, summed (probes sent, deliveries released, parked deliveries expired to the DLQ). */
  readonly swept = { sweeps: 0, probes: 0, released: 0, expired: 0, longestMs: 0, overruns: 0 };

  /**
   * The release λ's EventBridge rule: a sweep every `policy.sweepSeconds` of virtual time. Never two at
   * once: a sweep longer than the interval delays the next (on AWS the rule would start another while
   * it runs; `swept.longestMs` shows whether that can happen).
   */
  startSweeping(): void {
    this.sweeping = true;
    const tick = () => {
      if (!this.sweeping) return;
      const started = this.time.now();
      void this.parking
        .sweep()
        .then((r) => {
          this.swept.longestMs = Math.max(this.swept.longestMs, this.time.now() - started);
          if (this.time.now() - started > this.policy.sweepSeconds * 1000) this.swept.overruns++;
          this.swept.sweeps++;
          this.swept.probes += r.probes;
          this.swept.released += r.released;
          this.swept.expired += r.expired;
        })
        .catch((err: unknown) => this.logger.error("sweep failed", { error: err as Error }))
        // A fixed rate, as an EventBridge rule's; a sweep that overran starts the next at once.
        .finally(() => this.time.at(started + this.policy.sweepSeconds * 1000, tick));
    };
    this.time.at(this.time.now() + this.policy.sweepSeconds * 1000, tick);
  }

  /** Receives up to `max` messages as the deliver λ would be handed them (for step-by-step tests). */
  receive(max = 10): ReceivedMessage[] {
    return this.mainQueue.receive(max).map((m: SimMessage) => ({
      messageId: m.id,
      receiptHandle: m.handle!,
      body: m.body,
      sentAt: m.sentAt,
      receiveCount: m.receiveCount,
    }));
  }

  /** One invocation of the delivery core on `batch`: prepare, deliver each, finish; deletes the finished ones. */
  async deliverBatch(batch: readonly ReceivedMessage[]): Promise<{ deleted: string[]; retried: string[]; errors: unknown[] }> {
    const results = await this.time.drive(
      (async () => {
        const ctx = await this.delivery.prepare(batch);
        const settled = await Promise.allSettled(batch.map((r) => this.delivery.deliver(ctx, r)));
        await this.delivery.finish(ctx);
        return settled;
      })(),
    );
    const deleted: string[] = [];
    const retried: string[] = [];
    const errors: unknown[] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") deleted.push(batch[i].messageId);
      else {
        retried.push(batch[i].messageId);
        if ((r.reason as Error).name !== "RetryLater") errors.push(r.reason);
      }
    });
    const handles = batch.filter((r) => deleted.includes(r.messageId)).map((r) => r.receiptHandle);
    for (let i = 0; i < handles.length; i += 10) this.mainQueue.deleteBatch(handles.slice(i, i + 10));
    return { deleted, retried, errors };
  }
}
