import type { Clock, CoreLogger, CoreMetrics, DeliveryLog, DeliveryQueue, HealthStore } from "./ports.ts";
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
 * The release λ's core (design §5a): wakes the webhooks whose parked work is due, found with one
 * query of the `byWake` index. Releases parked deliveries oldest first at the release rate, sends the
 * probes of open circuits, and fails and dead-letters parked deliveries whose retry window ended.
 */
export class ParkingService {
  constructor(private readonly deps: ParkingDeps) {}

  async sweep(): Promise<SweepReport> {
    void this.deps;
    throw new Error("not implemented yet");
  }
}
