/**
 * A World of sim/ (the AWS-faithful in-memory ports, on a virtual clock) with one webhook of one
 * tenant, taking every event type, whose endpoint the test gives: the set-up of the delivery
 * decision's unit tests that run one batch at a time (test/unit/delivery-*.test.ts).
 */
import { newWebhookId } from "#core/ids.ts";
import type { Subscription } from "#core/model.ts";
import { LIMITS } from "#core/settings.ts";
import type { Endpoint } from "../../sim/ports/http.ts";
import { World, type WorldOptions } from "../../sim/world.ts";

export const TENANT = "acct_books";
export const URL = "https://hooks.example.com/books";

/** The world and its webhook. */
export async function setup(endpoint: Endpoint, o: WorldOptions = {}) {
  const world = new World(o);
  const now = new Date(world.time.now()).toISOString();
  const sub: Subscription = {
    tenantId: TENANT,
    id: newWebhookId(world.time.now()),
    url: URL,
    eventTypes: ["*"],
    enabled: true,
    secrets: [{ value: `whsec_${Buffer.alloc(24, 9).toString("base64")}`, createdAt: now }],
    createdAt: now,
    updatedAt: now,
  };
  await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
  world.sender.endpoints.set(URL, endpoint);
  return { world, sub };
}

export const publish = (world: World, id = "evt_1") => world.ingest.publish({ id, type: "record.created", tenantId: TENANT, data: { recordId: "rec_1" } });

/** Advances virtual time, then receives and runs one batch. */
export async function step(world: World, afterSeconds: number) {
  await world.time.runUntil(world.time.now() + afterSeconds * 1000);
  const batch = world.receive(10);
  return { batch, ...(await world.deliverBatch(batch)) };
}

/** The webhook's newest delivery record. */
export const record = async (world: World, sub: Subscription) => (await world.deliveries.list(TENANT, sub.id, { limit: 10 })).items[0];

export const fail500: Endpoint = () => ({ latencyMs: 20, status: 500, body: "boom" });
export const ok: Endpoint = () => ({ latencyMs: 20, status: 200, body: "ok" });
