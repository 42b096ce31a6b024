import type { Subscription } from "./model.ts";
import type { Clock, CoreLogger, CoreMetrics, DeliveryLog, DeliveryQueue, HealthStore, ParkedDelivery } from "./ports.ts";
import { HEALTH, METRICS, QUEUE } from "./settings.ts";
import type { RetrySchedule } from "./retry.ts";

export interface HealthPolicy {
  /** Consecutive failed attempts that open a circuit. */
  breakerThreshold: number;
  /** First probe interval of an open circuit (doubles after each failed probe, up to `maxProbeIntervalSeconds`). */
  probeIntervalSeconds: number;
  maxProbeIntervalSeconds: number;
  /** Parked deliveries released per second per webhook. */
  releaseRate: number;
  /** Seconds one sweep releases for (the time until the next sweep). */
  sweepSeconds: number;
  /** Backoffs longer than this are parked, not held in flight (default HEALTH.maxQueuedBackoffSeconds). */
  maxQueuedBackoffSeconds?: number;
}

export interface ParkingDeps {
  health: HealthStore;
  deliveries: DeliveryLog;
  queue: DeliveryQueue;
  clock: Clock;
  schedule: RetrySchedule;
  policy: HealthPolicy;
  logger: CoreLogger;
  metrics: CoreMetrics;
}

/** What one sweep did (the release λ returns it and logs it). */
export interface SweepReport {
  webhooks: number;
  released: number;
  probes: number;
  expired: number;
  openCircuits: number;
  parked: number;
}

/**
 * The release λ's core (docs/delivery-semantics.md): wakes the webhooks whose parked work is due, found with one
 * query of the `byWake` index. Releases parked deliveries oldest due first at the release rate,
 * sends the probes of open circuits, and fails and dead-letters parked deliveries whose retry window
 * ended. Every step is safe to repeat: a sweep that dies half-way is finished by the next one.
 */
export class ParkingService {
  constructor(private readonly deps: ParkingDeps) {}

  /** One sweep: every due webhook (up to HEALTH.sweepWebhooks, a few at a time), then the health metrics. */
  async sweep(): Promise<SweepReport> {
    const { health, clock, metrics } = this.deps;
    const report: SweepReport = { webhooks: 0, released: 0, probes: 0, expired: 0, openCircuits: 0, parked: 0 };
    const started = clock.now();
    const due = await health.due(new Date(started).toISOString(), HEALTH.sweepWebhooks);
    const queue = [...due];
    // A sweep ends well within its interval (the release λ's timeout is shorter still): the webhooks it
    // did not reach stay due and come first at the next one.
    const deadline = started + this.deps.policy.sweepSeconds * 1000 * SWEEP_BUDGET;
    const worker = async () => {
      for (let sub = queue.shift(); sub && clock.now() < deadline; sub = queue.shift()) {
        try {
          await this.wake(sub, report);
        } catch (err) {
          // The webhook stays due: the next sweep tries again.
          this.deps.logger.error("sweep of a webhook failed", { tenantId: sub.tenantId, webhookId: sub.id, error: err as Error });
        }
        report.webhooks++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, queue.length) }, worker));
    const summary = await health.summary();
    report.openCircuits = summary.openCircuits;
    report.parked = summary.parked;
    metrics.count(METRICS.openCircuits, summary.openCircuits);
    metrics.count(METRICS.parkedDeliveries, summary.parked);
    if (report.released) metrics.count(METRICS.deliveriesReleased, report.released);
    return report;
  }

  /** One webhook: expired deliveries out, then a probe (open circuit) or a paced release (closed), then its next wake. */
  private async wake(sub: Subscription, report: SweepReport): Promise<void> {
    const { deliveries, health, clock, policy } = this.deps;
    const now = clock.now();
    const nowIso = new Date(now).toISOString();
    const seq = sub.parkSeq ?? 0;
    const open = sub.circuit !== undefined && sub.enabled;
    const held = open || (sub.paused === true && sub.enabled);
    const pace = releasePace(sub, policy, now);
    const budget = held ? EXPIRY_PAGE : Math.max(1, Math.floor(pace * policy.sweepSeconds));
    // Held: the whole set from its start (expiry, the probe). Releasing: after the release cursor (what
    // was sent already stays in the set until its attempt is recorded, and is not sent twice).
    let front = await deliveries.parked(sub.tenantId, sub.id, {
      dueBy: held ? FAR_FUTURE : nowIso,
      limit: budget + 1,
      after: held ? undefined : sub.releasedThrough,
    });

    let live: ParkedDelivery[] = [];
    let gone = 0;
    // Only a held delivery runs out of its window here. One released is attempted (its schedule, with
    // its jitter, still decides: a backoff parked past the nominal window end is due, not expired).
    // Page after page while whole pages have expired, up to EXPIRY_BUDGET: a dead endpoint's parked
    // deliveries expire as fast as they were parked.
    for (let expired = 0; held; ) {
      const ended = front.filter((p) => Date.parse(p.windowEndsAt) <= now);
      for (let i = 0; i < ended.length; i += EXPIRY_CONCURRENCY) await Promise.all(ended.slice(i, i + EXPIRY_CONCURRENCY).map((p) => this.expire(p, nowIso)));
      gone += ended.length;
      expired += ended.length;
      report.expired += ended.length;
      live = front.filter((p) => Date.parse(p.windowEndsAt) > now);
      if (live.length > 0 || front.length <= budget || expired >= EXPIRY_BUDGET) break;
      front = await deliveries.parked(sub.tenantId, sub.id, { dueBy: FAR_FUTURE, limit: budget + 1, after: front[front.length - 1].parkSort });
    }
    if (!held) live = front;

    let wakeAt: string | undefined;
    let cursor: { from?: string; to: string } | undefined;
    if (open) {
      const probeAt = sub.nextProbeAt ?? nowIso;
      if (Date.parse(probeAt) <= now && live.length > 0) {
        const interval = sub.probeIntervalSeconds ?? policy.probeIntervalSeconds;
        const nextProbeAt = new Date(now + interval * 1000).toISOString();
        const claimed = await health.claimProbe(sub.tenantId, sub.id, {
          expectNextProbeAt: probeAt,
          nextProbeAt,
          probeIntervalSeconds: Math.min(interval * 2, policy.maxProbeIntervalSeconds),
        });
        // The oldest parked delivery, attempted for real; its outcome closes the circuit or keeps it open.
        const probe = live.find((p) => Date.parse(p.dueAt) <= now) ?? live[0];
        // Not counted out of the parked set: a failed probe is parked again.
        if (claimed && (await this.release([probe], 1, nowIso, { probe: true })) > 0) {
          report.probes++;
          this.deps.logger.info("probe sent", { tenantId: sub.tenantId, webhookId: sub.id, deliveryId: probe.message.deliveryId });
        }
        wakeAt = nextProbeAt;
      } else wakeAt = probeAt;
      // Nothing parked: nothing to probe with (idle below: due again when something parks).
      wakeAt = live.length > 0 ? earliest(wakeAt, ...live.map((p) => p.windowEndsAt)) : undefined;
    } else if (held) {
      // Paused: nothing is sent; the sweep comes back when the first window ends.
      wakeAt = earliest(...live.map((p) => p.windowEndsAt));
    } else {
      const batch = live.filter((p) => Date.parse(p.dueAt) <= now).slice(0, budget);
      const released = await this.release(batch, pace, nowIso);
      gone += released;
      report.released += released;
      if (released > 0) cursor = { from: sub.releasedThrough, to: batch[batch.length - 1].parkSort };
      const more = front.length > budget;
      wakeAt = more
        ? new Date(now + policy.sweepSeconds * 1000).toISOString()
        : await deliveries.nextDue(sub.tenantId, sub.id, cursor?.to ?? sub.releasedThrough);
      if (wakeAt && Date.parse(wakeAt) < now + policy.sweepSeconds * 1000 && !more) wakeAt = new Date(Math.max(Date.parse(wakeAt), now + 1_000)).toISOString();
    }
    if (gone > 0) await health.noteUnparked(sub.tenantId, sub.id, gone);
    // Nothing left to do: the wake is cleared, or for a circuit that stays open kept far ahead (the index
    // still counts it as open); either only if nothing was parked since this sweep read the webhook
    // (then `noteParked` brought the wake forward, and it must stay).
    const idle = wakeAt === undefined && !cursor;
    const next = idle ? { wakeAt: sub.circuit !== undefined ? FAR_FUTURE : undefined, expectParkSeq: seq } : { wakeAt: wakeAt ?? nowIso, cursor };
    if (!(await health.setWake(sub.tenantId, sub.id, next))) {
      // Something was parked meanwhile, or the cursor was reset: look again soon.
      await health.setWake(sub.tenantId, sub.id, { wakeAt: new Date(now + policy.sweepSeconds * 1000).toISOString() });
    }
  }

  /**
   * Sends parked deliveries back to the queue, paced at `pace` per second with each message's own
   * DelaySeconds. They leave the parked set when their attempt is recorded (that write is made anyway);
   * until then the release cursor keeps them from being sent twice. No write per release here: a
   * minute's release of one webhook never bursts on its partition.
   */
  private async release(
    batch: readonly ParkedDelivery[],
    pace: number,
    nowIso: string,
    mark: { released: true } | { probe: true } = { released: true },
  ): Promise<number> {
    if (batch.length === 0) return 0;
    const now = Date.parse(nowIso);
    await this.deps.queue.sendDelayed(
      batch.map((p, i) => ({
        message: { ...p.message, ...mark },
        delaySeconds: Math.min(QUEUE.maxDelaySeconds, Math.max(Math.floor(i / pace), Math.ceil((Date.parse(p.dueAt) - now) / 1000), 0)),
      })),
    );
    return batch.length;
  }

  /** A parked delivery whose retry window ended: to the DLQ first, then its record says failed (as an exhausted delivery). */
  private async expire(p: ParkedDelivery, nowIso: string): Promise<boolean> {
    const deadLetteredAt = nowIso;
    const { released: _r, probe: _p, ...message } = p.message;
    await this.deps.queue.deadLetter({ ...message, deadLetteredAt });
    await this.deps.deliveries.write({
      message: p.message,
      status: "failed",
      roundStart: p.roundStart,
      round: p.round,
      nowIso,
      deadLetteredAt,
      previousAttempts: p.attemptCount,
      reason: "retry window ended while parked",
    });
    this.deps.metrics.count("DeliveriesFailed");
    this.deps.metrics.count("DlqMoves");
    this.deps.logger.warn("parked delivery failed: its retry window ended", {
      deliveryId: p.message.deliveryId,
      tenantId: p.message.tenantId,
      webhookId: p.message.webhookId,
    });
    return true;
  }
}

/** Webhooks swept at once by one sweep. */
const SWEEP_CONCURRENCY = 8;
/** The share of the sweep interval a sweep may spend starting webhooks. */
const SWEEP_BUDGET = 0.6;
/** Parked deliveries of a held (open, paused) webhook read per page to find those whose window ended. */
const EXPIRY_PAGE = 100;
/** Expired deliveries failed per webhook and sweep at most (about 170/s at a sweep a minute), a few at a time. */
const EXPIRY_BUDGET = 10_000;
const EXPIRY_CONCURRENCY = 4;
const FAR_FUTURE = "9999-12-31T23:59:59.999Z";

/** Deliveries per second a webhook's parked work is released at: the release rate, its rateLimit, and what a slow webhook's slots can carry. */
export function releasePace(sub: Subscription, policy: Pick<HealthPolicy, "releaseRate">, now: number): number {
  let pace = policy.releaseRate;
  if (sub.rateLimit) pace = Math.min(pace, sub.rateLimit);
  if (sub.slowUntil && Date.parse(sub.slowUntil) > now && sub.slowMs) pace = Math.min(pace, (HEALTH.slowInProgress * 1000) / sub.slowMs);
  return Math.max(pace, 1 / 60);
}

function earliest(...times: (string | undefined)[]): string | undefined {
  const set = times.filter((t): t is string => t !== undefined);
  // ISO times sort as strings.
  return set.sort()[0];
}
