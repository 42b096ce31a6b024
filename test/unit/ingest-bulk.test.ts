/**
 * Ingest's bulk path (ingest.ts, `EventStore.putNew`): events without a producer id get their ids
 * from the service, so no other call can name them; they are written without a condition, 25 to a
 * `BatchWriteItem`, and a batch of only such events opens no marker. Events with ids keep their
 * conditional put and the batch marker. On the in-memory ports of sim/ (DynamoDB's batch rules,
 * counted requests), with exact expectations.
 */
import { IngestService } from "#core/ingest.ts";
import { newWebhookId } from "#core/ids.ts";
import type { StoredEvent, Subscription } from "#core/model.ts";
import type { EventStore } from "#core/ports.ts";
import { DELIVERY, LIMITS } from "#core/settings.ts";
import { SimEventStore } from "../../sim/ports/dynamo.ts";
import { World } from "../../sim/world.ts";

const TENANT = "acct_bulk";

async function setup() {
  const world = new World({ slowLane: false });
  const now = new Date(world.time.now()).toISOString();
  const sub: Subscription = {
    tenantId: TENANT,
    id: newWebhookId(world.time.now()),
    url: "https://hooks.example.com/in",
    eventTypes: ["*"],
    enabled: true,
    secrets: [{ value: `whsec_${Buffer.alloc(24, 7).toString("base64")}`, createdAt: now }],
    createdAt: now,
    updatedAt: now,
  };
  await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
  return { world, sub };
}

/** The world's ports with another event store. */
const ingestWith = (world: World, events: EventStore) =>
  new IngestService({
    subscriptions: world.subscriptions,
    events,
    queue: world.queue,
    clock: world.time,
    logger: world.logger,
    metrics: world.metrics,
    subscriptionCacheMs: DELIVERY.subscriptionCacheMs,
  });

const event = (n: number, id?: string) => ({ ...(id ? { id } : {}), type: "record.created", tenantId: TENANT, data: { recordId: `rec_${n}` } });
/** DynamoDB write requests since `before` (the subscriptions' reads left out), by operation. */
const writes = (world: World, before: Map<string, number>) =>
  Object.fromEntries(
    [...world.ledger.requests]
      .filter(([k]) => /^DynamoDB\.(PutItem|BatchWriteItem|UpdateItem|DeleteItem)$/.test(k))
      .map(([k, v]) => [k.slice("DynamoDB.".length), v - (before.get(k) ?? 0)])
      .filter(([, v]) => v !== 0),
  );
const enqueued = (world: World) => world.mainQueue.heldBodies().map((b) => JSON.parse(b).eventId as string);

describe("events without a producer id", () => {
  test("a batch of 60: three BatchWriteItems (25, 25, 10), no conditional put, no marker; answered in order, stored and enqueued", async () => {
    const { world, sub } = await setup();
    const before = new Map(world.ledger.requests);
    const res = (await world.ingest.publish({ events: Array.from({ length: 60 }, (_, i) => event(i)) })) as { events: { id: string }[]; deliveries: number };
    expect(writes(world, before)).toEqual({ BatchWriteItem: 3 });
    expect(world.events.markers.size).toBe(0);
    expect(res.deliveries).toBe(60);
    const ids = res.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(60);
    // ids are made in order (monotonic ULIDs), and each answer is its own event's
    expect([...ids].sort()).toEqual(ids);
    for (const [i, id] of ids.entries()) {
      const stored = world.events.events.get(`${TENANT}#${id}`)!;
      expect(JSON.parse(stored.payload).data).toEqual({ recordId: `rec_${i}` });
      expect(stored.batch).toBeUndefined();
      expect(stored.deliveries.map((d) => d.webhookId)).toEqual([sub.id]);
    }
    expect(enqueued(world).sort()).toEqual([...ids].sort());
  });

  test("in a batch with named events: the marker and a conditional put for the named ones, one BatchWriteItem for the rest, which carry the batch token", async () => {
    const { world } = await setup();
    const before = new Map(world.ledger.requests);
    const res = (await world.ingest.publish({ events: [event(0, "evt_named_0"), event(1), event(2, "evt_named_2"), event(3)] })) as {
      events: { id: string }[];
    };
    expect(res.events.map((e) => e.id)).toEqual(["evt_named_0", expect.stringMatching(/^evt_/), "evt_named_2", expect.stringMatching(/^evt_/)]);
    // PutItem: the marker and the two named events; DeleteItem: the commit
    expect(writes(world, before)).toEqual({ BatchWriteItem: 1, PutItem: 3, DeleteItem: 1 });
    const tokens = new Set(res.events.map((e) => world.events.events.get(`${TENANT}#${e.id}`)!.batch));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).toEqual(expect.any(String));
    expect(world.events.markers.size).toBe(0);
    expect(enqueued(world).sort()).toEqual(res.events.map((e) => e.id).sort());
  });

  test("a bulk write that fails after storing part of a batch: all of it is taken back, nothing is enqueued, the error is the answer", async () => {
    const { world } = await setup();
    const inner = new SimEventStore(world.dynamo);
    const failing: EventStore = Object.assign(Object.create(inner) as SimEventStore, {
      async putNew(events: readonly StoredEvent[]) {
        await inner.putNew(events.slice(0, 1));
        throw new Error("connection reset");
      },
    });
    await expect(ingestWith(world, failing).publish({ events: [event(0), event(1), event(2)] })).rejects.toThrow("connection reset");
    expect(inner.events.size).toBe(0);
    expect(enqueued(world)).toEqual([]);
  });
});
