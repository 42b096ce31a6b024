/**
 * A World of sim/ (the AWS-faithful in-memory ports, on a virtual clock) with webhooks of one tenant
 * whose endpoints a test switches between up and down: the set-up of the endpoint-health tests
 * (test/unit/endpoint-health*.test.ts).
 */
import { newWebhookId } from "#core/ids.ts";
import type { Subscription } from "#core/model.ts";
import { LIMITS } from "#core/settings.ts";
import type { Endpoint, EndpointBehaviour } from "../../sim/ports/http.ts";
import { World, type WorldOptions } from "../../sim/world.ts";

export const TENANT = "acct_health";

/** An endpoint whose behaviour the test switches, recording when each delivery (webhook-id) was answered 2xx. */
export function switchable(initial: EndpointBehaviour) {
  const state = { now: initial };
  const endpoint: Endpoint = () => state.now;
  return { state, endpoint };
}

export const DOWN: EndpointBehaviour = { latencyMs: 3 }; // connection refused
export const UP: EndpointBehaviour = { latencyMs: 40, status: 200, body: "ok" };

export async function setup(o: WorldOptions = {}, hooks = 1) {
  const world = new World(o);
  const subs: Subscription[] = [];
  const endpoints = [];
  for (let i = 0; i < hooks; i++) {
    const now = new Date(world.time.now()).toISOString();
    const sub: Subscription = {
      tenantId: TENANT,
      id: newWebhookId(world.time.now() + i),
      url: `https://hooks${i}.example.com/in`,
      eventTypes: [i === 0 ? "record.created" : "record.updated"],
      enabled: true,
      secrets: [{ value: `whsec_${Buffer.alloc(24, 7).toString("base64")}`, createdAt: now }],
      createdAt: now,
      updatedAt: now,
    };
    await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
    const e = switchable(UP);
    world.sender.endpoints.set(sub.url, e.endpoint);
    subs.push(sub);
    endpoints.push(e);
  }
  world.startDelivering();
  world.startSweeping();
  return { world, subs, endpoints };
}

export async function publish(world: World, n: number, type = "record.created", prefix = "e") {
  for (let i = 0; i < n; i += 100) {
    const events = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({
      id: `${prefix}${i + j}`,
      type,
      tenantId: TENANT,
      data: { recordId: `rec_${i + j}` },
    }));
    await world.ingest.publish({ events });
  }
}

export const run = (world: World, seconds: number) => world.time.runUntil(world.time.now() + seconds * 1000);
export const sub = async (world: World, s: Subscription) => (await world.subscriptions.get(s.tenantId, s.id))!;
export const delivered = (world: World, s: Subscription) => world.sender.receipts.get(s.url)?.delivered ?? new Map<string, number>();

/** The most 2xx answers the endpoint gave in any one second. */
export function peakPerSecond(times: Iterable<number>): number {
  const perSecond = new Map<number, number>();
  for (const t of times) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  return Math.max(0, ...perSecond.values());
}

/** Parks delivery number `n` of the webhook (its record only, through the port, as the deliver λ would); the caller tells the webhook's health. */
export async function parkDelivery(
  world: World,
  webhookId: string,
  n: number,
  o: { eventId: string; reason: "backoff" | "paused" | "circuit"; nowIso: string; dueAt: string; windowEndsAt: string; payload?: string },
): Promise<string> {
  const deliveryId = `dlv_${String(n).padStart(26, "0")}`;
  const message = { v: 1 as const, deliveryId, tenantId: TENANT, webhookId, eventId: o.eventId, eventType: "record.created", payload: o.payload ?? "{}" };
  await world.time.drive(
    world.deliveries.park({ message, status: "pending", roundStart: 0, nowIso: o.nowIso, reason: o.reason, dueAt: o.dueAt, windowEndsAt: o.windowEndsAt }),
  );
  return deliveryId;
}
