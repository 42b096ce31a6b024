import type { ParkingService, SweepReport } from "#core/parking.ts";
import type { CoreLogger } from "#core/ports.ts";

/**
 * The release λ, run by an EventBridge rule every `HEALTH.sweepSeconds` (docs/delivery-semantics.md): one sweep of
 * the webhooks whose parked work is due. The scheduled event carries nothing the sweep needs, so it
 * is ignored. A sweep that throws fails the invocation (the `ReleaseErrors` alarm); the next rule
 * tick sweeps again, and nothing is lost meanwhile: parked deliveries stay in DynamoDB.
 */
export function createReleaseHandler(service: ParkingService, logger?: CoreLogger) {
  return async (): Promise<SweepReport> => {
    const report = await service.sweep();
    logger?.info("sweep done", { ...report });
    return report;
  };
}
