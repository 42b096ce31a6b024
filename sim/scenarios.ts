import { dead, healthy, type Endpoint } from "./ports/http.ts";
import type { ScenarioSpec } from "./scenario.ts";

const HOUR = 3_600;
const DAY = 24 * HOUR;

/** Healthy endpoints answer in 50–150 ms. */
const fast = (w: number): Endpoint => healthy(50 + ((w * 37) % 100));
/** Every 1/n-th webhook (spread evenly), by its index. */
const every = (n: number) => (w: number) => w % n === n - 1;

const BINARY_4K = Buffer.from(Array.from({ length: 4_096 }, (_, i) => (i * 131 + 7) % 256));

/**
 * The scenarios of issue 9 at full scale; `scale` (extensive quantities) and, where stated, a
 * shorter run are what makes them finish in minutes on 2 cores (docs/scale.md says which).
 */
export function scenarios(quick: boolean): ScenarioSpec[] {
  const base = { tenants: 1_000, webhooksPerTenant: 10, eventsPerSecond: 2_000 };
  const steady = quick ? { scale: 0.001, loadSeconds: 120, runSeconds: 180 } : { scale: 0.005, loadSeconds: HOUR, runSeconds: HOUR + 600 };
  return [
    {
      key: "a",
      title: "steady 2,000 events/s over 10,000 webhooks of 1,000 tenants, 5 webhooks per event, 1 hour",
      ...base,
      ...steady,
      endpoint: (w) => ({ endpoint: fast(w), healthy: true }),
    },
    {
      key: "b",
      title: "as (a), 2 % of endpoints dead, for 3 simulated days",
      ...base,
      // 50 webhooks (1 dead), at 1/2,000 of the rate: the in-flight limit is scaled with the rate.
      // Past the stall nothing changes but the backlog, so the full run stops after 12 hours (docs/scale.md).
      ...(quick ? { scale: 0.0005, tenantCount: 5, loadSeconds: 1_800, runSeconds: 1_800 } : { scale: 0.0005, tenantCount: 5, loadSeconds: 12 * HOUR, runSeconds: 12 * HOUR }),
      endpoint: (w) => (every(50)(w) ? { endpoint: dead, healthy: false } : { endpoint: fast(w), healthy: true }),
    },
    {
      key: "c",
      title: "one tenant's endpoint dead at 200 events/s for 6 hours, beside a steady background",
      ...base,
      // The dead endpoint at 1/100 of its rate (2 events/s), the in-flight limit scaled the same.
      ...(quick ? { scale: 0.0002, inFlightScale: 0.01, loadSeconds: 1_800, runSeconds: 1_800 } : { scale: 0.0005, inFlightScale: 0.01, loadSeconds: 6 * HOUR, runSeconds: 6 * HOUR }),
      hotTenant: { eventsPerSecond: 2, endpoint: dead },
      endpoint: (w) => ({ endpoint: fast(w), healthy: true }),
    },
    {
      key: "d",
      title: "as (a), 5 % of endpoints answering in 9 s",
      ...base,
      ...steady,
      ...(quick ? { tenantCount: 2 } : {}),
      endpoint: (w) => (every(20)(w) ? { endpoint: healthy(9_000), healthy: false } : { endpoint: fast(w), healthy: true }),
    },
    {
      key: "e",
      title: "as (a), DynamoDB throttling every write of the delivery log and subscriptions for 2 hours",
      ...base,
      ...(quick ? { scale: 0.00005, loadSeconds: 3 * HOUR, runSeconds: 3.5 * HOUR } : { scale: 0.001, loadSeconds: 3 * HOUR, runSeconds: 3.5 * HOUR }),
      endpoint: (w) => ({ endpoint: fast(w), healthy: true }),
      arrange: (world) => {
        world.dynamo.writeOutage = { tables: ["deliveries", "subscriptions"], untilMs: world.time.now() + 2 * HOUR * 1000 };
      },
    },
    {
      key: "f",
      title: "an endpoint answering 429 with Retry-After: 43200 on every attempt, beside a steady background",
      ...base,
      // The one endpoint's rate is not scaled: the in-flight limit is scaled by 1/100 (1,200).
      ...(quick ? { scale: 0.0001, inFlightScale: 0.01, loadSeconds: HOUR, runSeconds: 4 * DAY } : { scale: 0.0002, inFlightScale: 0.01, loadSeconds: 6 * HOUR, runSeconds: 4 * DAY }),
      hotTenant: { eventsPerSecond: quick ? 0.01 : 0.05, endpoint: () => ({ latencyMs: 30, status: 429, retryAfter: "43200" }) },
      endpoint: (w) => ({ endpoint: fast(w), healthy: true }),
    },
    {
      key: "g",
      title: "binary 4 KiB bodies on every failed attempt, through three redrive rounds",
      ...base,
      ...(quick ? { scale: 0.0001, inFlightScale: 0.01, loadSeconds: 1_800, runSeconds: 11 * DAY } : { scale: 0.0002, inFlightScale: 0.01, loadSeconds: 6 * HOUR, runSeconds: 11 * DAY }),
      // Three rounds of 2.5 days of failures would auto-disable the endpoint at day 5: not this scenario's subject.
      autoDisableAfterSeconds: 30 * DAY,
      hotTenant: { eventsPerSecond: quick ? 0.01 : 0.02, endpoint: () => ({ latencyMs: 40, status: 500, body: BINARY_4K }) },
      endpoint: (w) => ({ endpoint: fast(w), healthy: true }),
      // The schedule lasts about 2.5 days: each round dead-letters, then is redriven.
      redriveAt: [3 * DAY, 6 * DAY, 9 * DAY],
    },
  ];
}
