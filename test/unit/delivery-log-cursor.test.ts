/**
 * Delivery-log cursors are opaque to the core (issue 13): the log's adapter alone reads them, and
 * refuses one it did not return for the webhook asked about with `InvalidCursor` before reading
 * anything. On the in-memory log, which takes the DynamoDB adapter's cursors; the DynamoDB log is
 * exercised through the API by core-rules and bad-input.
 */
import { deterministicDeliveryId, newWebhookId } from "#core/ids.ts";
import { InvalidCursor } from "#core/ports.ts";
import { World } from "../../sim/world.ts";

const TENANT = "acct_cur";

test("a page's cursor continues that webhook's log only; anything else is InvalidCursor, malformed or foreign", async () => {
  const world = new World();
  const t0 = world.time.now();
  const [a, b] = [newWebhookId(t0), newWebhookId(t0)];
  await world.time.drive(
    (async () => {
      for (let i = 0; i < 3; i++) {
        const deliveryId = deterministicDeliveryId(t0 + i, TENANT, `evt_${i}`, a);
        const message = { v: 1 as const, deliveryId, tenantId: TENANT, webhookId: a, eventId: `evt_${i}`, eventType: "record.created", payload: "{}" };
        await world.deliveries.write({ message, status: "failed", roundStart: 0, nowIso: new Date(t0).toISOString(), previousAttempts: 0 });
      }
    })(),
  );
  const list = (webhookId: string, cursor?: string) => world.time.drive(world.deliveries.list(TENANT, webhookId, { limit: 2, cursor }));
  const first = await list(a);
  expect(first.items).toHaveLength(2);
  const cursor = first.cursor!;
  expect(world.deliveries.isCursor(cursor)).toBe(true);
  expect((await list(a, cursor)).items.map((d) => d.eventId)).toEqual(["evt_0"]);

  const refusal = (webhookId: string, c: string) =>
    list(webhookId, c).then(
      () => "accepted",
      (err: unknown) => (err instanceof InvalidCursor ? err.reason : err),
    );
  // Bound to its webhook: the same cursor is foreign to another webhook of the same tenant.
  expect(await refusal(b, cursor)).toBe("foreign");
  for (const c of ["", "not-a-cursor", Buffer.from(JSON.stringify({ pk: `${TENANT}#${a}`, id: "x" })).toString("base64url")]) {
    expect([c, world.deliveries.isCursor(c)]).toEqual([c, false]);
    expect([c, await refusal(a, c)]).toEqual([c, "malformed"]);
  }
});
