import type { CoreLogger } from "#core/ports.ts";
import type { ParkingService } from "#core/parking.ts";

/**
 * The local stand-in for the release λ's EventBridge rule: runs the same `ParkingService.sweep` on a
 * timer (every second by default, HEALTH.localSweepSeconds), never two at once.
 */
export class LocalSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly service: ParkingService,
    private readonly intervalMs: number,
    private readonly logger: CoreLogger,
  ) {}

  start(): this {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.service
        .sweep()
        .then((report) => {
          if (report.released || report.probes || report.expired) this.logger.debug("sweep", { ...report });
        })
        .catch((err: unknown) => this.logger.error("sweep failed", { error: err as Error }))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.intervalMs);
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
