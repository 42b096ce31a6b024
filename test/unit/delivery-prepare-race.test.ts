/**
 * Two batches prepared at once by one DeliveryService (the local stack's pollers share one, as the
 * bench and the tests do; Lambda runs one batch per environment): a batch that starts while another
 * is still opening a subscription's sealed secrets must still find that subscription, never take it
 * for deleted (which skips its deliveries for good).
 */
import { newWebhookId } from "#core/ids.ts";
import type { Subscription } from "#core/model.ts";
import { LIMITS } from "#core/settings.ts";
import { World } from "../../sim/world.ts";

const TENANT = "acct_race";
const URL = "https://hooks.example.com/race";

test("a batch prepared while another opens the same subscription's secrets finds the subscription", async () => {
  const world = new World();
  const at = world.time.now();
  const now = new Date(at).toISOString();
  const id = newWebhookId(at);
  const sealed = await world.secrets.seal("whsec_" + Buffer.alloc(24, 3).toString("base64"), { tenantId: TENANT, webhookId: id });
  const sub: Subscription = {
    tenantId: TENANT,
    id,
    url: URL,
    eventTypes: ["*"],
    enabled: true,
    secrets: [{ sealed, createdAt: now }],
    createdAt: now,
    updatedAt: now,
  };
  await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
  world.sender.endpoints.set(URL, () => ({ latencyMs: 10, status: 200, body: "ok" }));
  for (const eventId of ["evt_a", "evt_b"]) await world.ingest.publish({ id: eventId, type: "record.created", tenantId: TENANT, data: { recordId: "rec_1" } });
  const [first, second] = world.receive(10);
  expect(second).toBeDefined();

  // The first open of a sealed secret waits at a gate, so the second batch starts while it is pending.
  const open = world.secrets.open.bind(world.secrets);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let opening!: () => void;
  const firstOpenStarted = new Promise<void>((r) => (opening = r));
  let calls = 0;
  world.secrets.open = async (value, context) => {
    if (calls++ === 0) {
      opening();
      await gate;
    }
    return open(value, context);
  };

  const preparingFirst = world.delivery.prepare([first]);
  await firstOpenStarted;
  const secondCtx = await world.delivery.prepare([second]);
  release();
  const firstCtx = await preparingFirst;

  expect([...secondCtx.subscriptions.values()].map((s) => s.id)).toEqual([id]);
  expect([...firstCtx.subscriptions.values()].map((s) => s.id)).toEqual([id]);
});
