/**
 * Replay is bounded per call and carries on with the answer's cursor (issue 9, defect 4), on the
 * in-memory ports: 1,005 failed deliveries are replayed in two calls, each exactly once.
 */
import { ManageApi } from "../../lambdas/manage/routes.ts";
import { deterministicDeliveryId, newWebhookId } from "#core/ids.ts";
import type { Subscription } from "#core/model.ts";
import { World } from "../../sim/world.ts";
import { LIMITS } from "#core/settings.ts";

test("1,005 failed deliveries: 1,000 replayed with a cursor, then the other 5, none twice", async () => {
  const world = new World();
  const t0 = world.time.now();
  const iso = new Date(t0).toISOString();
  const sub: Subscription = {
    tenantId: "acct_r",
    id: newWebhookId(t0),
    url: "https://r.example.com/",
    eventTypes: ["*"],
    enabled: true,
    secrets: [{ value: "whsec_" + Buffer.alloc(24, 1).toString("base64"), createdAt: iso }],
    createdAt: iso,
    updatedAt: iso,
  };
  await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
  // One partition takes 1,000 WCU/s: the seeding is paced in virtual time, which drive() runs.
  await world.time.drive(
    (async () => {
      for (let i = 0; i < 1_005; i++) {
        await world.time.sleep(3); // ~670 WCU/s: within the partition's 1,000
        const at = t0 + i;
        const eventId = `evt_${i}`;
        const deliveryId = deterministicDeliveryId(at, sub.tenantId, eventId, sub.id);
        await world.events.putIfAbsent(
          {
            tenantId: sub.tenantId,
            id: eventId,
            type: "record.created",
            timestamp: iso,
            acceptedAt: at,
            payload: "{}",
            fingerprint: eventId,
            deliveries: [{ deliveryId, webhookId: sub.id }],
          },
          0,
        );
        const message = { v: 1 as const, deliveryId, tenantId: sub.tenantId, webhookId: sub.id, eventId, eventType: "record.created", payload: "{}" };
        await world.deliveries.write({ message, status: "failed", roundStart: 0, nowIso: iso, previousAttempts: 0 });
        // A succeeded one between each: not replayed.
        const ok = { ...message, deliveryId: deterministicDeliveryId(at, sub.tenantId, `${eventId}_ok`, sub.id), eventId: `${eventId}_ok` };
        await world.deliveries.write({ message: ok, status: "succeeded", roundStart: 0, nowIso: iso, previousAttempts: 0 });
      }
    })(),
  );
  await world.time.runUntil(world.time.now() + 60_000);
  const manage = new ManageApi({
    subscriptions: world.subscriptions,
    events: world.events,
    deliveries: world.deliveries,
    queue: world.queue,
    secrets: world.secrets,
    clock: world.time,
    logger: world.logger,
    endpointPolicy: { allowPrivate: false },
  });
  const route = manage.routes()["POST /tenants/{tenantId}/webhooks/{webhookId}/replay"];
  const call = (body: object) =>
    world.time.drive(route({ routeKey: "", pathParameters: { tenantId: sub.tenantId, webhookId: sub.id }, query: {}, body: JSON.stringify(body) }));
  const first = await call({ since: new Date(t0 - 1_000).toISOString() });
  expect(first.statusCode).toBe(202);
  expect(first.body).toEqual({ replayed: 1_000, matched: 1_000, truncated: true, status: "failed", cursor: expect.any(String) });
  const second = await call({ since: new Date(t0 - 1_000).toISOString(), cursor: (first.body as { cursor: string }).cursor });
  expect(second.body).toEqual({ replayed: 5, matched: 5, truncated: false, status: "failed", cursor: null });
  const replayed = world.mainQueue.heldBodies().map((b) => JSON.parse(b).replayOf as string);
  expect(replayed).toHaveLength(1_005);
  expect(new Set(replayed).size).toBe(1_005);
  // A cursor of another webhook is refused, naming the field.
  await expect(
    call({
      since: new Date(t0 - 1_000).toISOString(),
      cursor: Buffer.from(JSON.stringify({ pk: "acct_r#wh_01KE5Q8600ZGNEMBJMRVZM4SKW", id: "dlv_01KE5Q8600ZGNEMBJMRVZM4SKW" })).toString("base64url"),
    }),
  ).rejects.toMatchObject({ status: 400, details: [{ field: "cursor" }] });
});
