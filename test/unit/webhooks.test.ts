/**
 * WebhookService (lambdas/core/webhooks.ts) on the in-memory ports of sim/ (a virtual clock, no
 * emulators): the edges core-manage.test.ts does not reach through the routes (rotation races and
 * their limit, expired and legacy secrets, the log lines, the refusals' exact details). Everything
 * under test runs inside each test (per-test coverage, docs/testing.md).
 */
import { WebhookService } from "#core/webhooks.ts";
import { EVENT_TYPE_NAMES } from "#core/catalogue.ts";
import { StaleWrite, type SubscriptionStore } from "#core/ports.ts";
import { LIMITS } from "#core/settings.ts";
import { ApiError } from "#core/errors.ts";
import { World } from "../../sim/world.ts";

const TENANT = "acct_w";
const URL = "https://hooks.example.com/in";

function setup(subscriptions?: (world: World) => SubscriptionStore) {
  const world = new World();
  const service = new WebhookService({
    subscriptions: subscriptions ? subscriptions(world) : world.subscriptions,
    events: world.events,
    queue: world.queue,
    secrets: world.secrets,
    clock: world.time,
    logger: world.logger,
    endpointPolicy: { allowPrivate: false },
  });
  const iso = (ms = world.time.now()) => new Date(ms).toISOString();
  return { world, service, iso };
}

const refusal = async (work: Promise<unknown>) => {
  try {
    await work;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { status: err.status, ...err.toBody().error };
  }
  throw new Error("not refused");
};

describe("create", () => {
  test("stores the normalised URL, the deduplicated types and one sealed secret; logs the webhook's ids; no flags it was not given", async () => {
    const { world, service, iso } = setup();
    const { subscription, secret } = await service.create(TENANT, { url: "HTTPS://Hooks.Example.com/in", eventTypes: ["record.*", "record.*"] });
    expect(subscription).toEqual({
      tenantId: TENANT,
      id: subscription.id,
      url: URL,
      eventTypes: ["record.*"],
      description: undefined,
      enabled: true,
      secrets: [{ sealed: expect.any(String), createdAt: iso() }],
      createdAt: iso(),
      updatedAt: iso(),
    });
    expect(Object.keys(subscription)).not.toContain("paused");
    expect(Object.keys(subscription)).not.toContain("rateLimit");
    expect(Object.keys(subscription)).not.toContain("disabledReason");
    // Sealed for this webhook: it opens under its own context only.
    expect(await world.secrets.open(subscription.secrets[0].sealed!, { tenantId: TENANT, webhookId: subscription.id })).toBe(secret);
    expect(world.logger.lines).toContainEqual({ level: "info", message: "webhook created", extra: { tenantId: TENANT, webhookId: subscription.id } });
  });

  test("paused false and enabled true are the defaults, stored as no flag; rateLimit kept when given", async () => {
    const { service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"], paused: false, enabled: true, rateLimit: 3 });
    expect(subscription).toMatchObject({ enabled: true, rateLimit: 3 });
    expect(Object.keys(subscription)).not.toContain("paused");
    expect(Object.keys(subscription)).not.toContain("disabledAt");
  });

  test(`the ${LIMITS.webhooksPerTenant + 1}th webhook of a tenant is a 409 naming the limit`, async () => {
    const { service } = setup();
    for (let i = 0; i < LIMITS.webhooksPerTenant; i++) await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    expect(await refusal(service.create(TENANT, { url: URL, eventTypes: ["*"] }))).toEqual({
      status: 409,
      code: "webhook_limit_reached",
      message: `a tenant may have at most ${LIMITS.webhooksPerTenant} webhooks; delete one first`,
      details: [],
    });
  });

  test("an unknown event type is a 400 naming each unknown pattern and its index, and the known types", async () => {
    const { service } = setup();
    const known = EVENT_TYPE_NAMES.join(", ");
    expect(await refusal(service.create(TENANT, { url: URL, eventTypes: ["*", "nope", "also.nope"] }))).toEqual({
      status: 400,
      code: "unknown_event_type",
      message: `unknown event type "nope", "also.nope"; known types: ${known} (or "*", or a family like "record.*")`,
      details: [
        { field: "eventTypes[1]", message: `must be one of: ${known}, "*" or a family wildcard` },
        { field: "eventTypes[2]", message: `must be one of: ${known}, "*" or a family wildcard` },
      ],
    });
  });

  test("a URL the endpoint policy refuses is a 400 on the url field, on create and on update", async () => {
    const { service } = setup();
    const created = await refusal(service.create(TENANT, { url: "http://10.0.0.1/in", eventTypes: ["*"] }));
    expect([created.status, created.details?.[0].field]).toEqual([400, "url"]);
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const updated = await refusal(service.update(subscription, { url: "http://10.0.0.1/in" }));
    expect([updated.status, updated.details?.[0].field]).toEqual([400, "url"]);
    expect((await service.update(subscription, { url: "HTTPS://Other.Example.com/x" })).url).toBe("https://other.example.com/x");
  });
});

describe("list, get, delete", () => {
  test("a page that starts past the end is empty; a cursor of no page continues after where it would sort", async () => {
    const { world, service } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await world.time.runUntil(world.time.now() + 1_000);
      ids.push((await service.create(TENANT, { url: URL, eventTypes: ["*"] })).subscription.id);
    }
    const [a, b, c] = ids;
    expect(await service.list(TENANT, {})).toEqual({
      items: [expect.objectContaining({ id: c }), expect.objectContaining({ id: b }), expect.objectContaining({ id: a })],
      cursor: null,
    });
    const first = await service.list(TENANT, { limit: 1 });
    expect([first.items.map((s) => s.id), first.cursor]).toEqual([[c], c]);
    const second = await service.list(TENANT, { limit: 1, cursor: c });
    expect([second.items.map((s) => s.id), second.cursor]).toEqual([[b], b]);
    const last = await service.list(TENANT, { limit: 1, cursor: b });
    expect([last.items.map((s) => s.id), last.cursor]).toEqual([[a], null]);
    expect(await service.list(TENANT, { limit: 1, cursor: a })).toEqual({ items: [], cursor: null });
    expect(await service.list(TENANT, { cursor: a })).toEqual({ items: [], cursor: null });
  });

  test("delete logs the ids; a malformed id is a 404 that touches no table", async () => {
    const { world, service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    await service.delete(TENANT, subscription.id);
    expect(world.logger.lines).toContainEqual({ level: "info", message: "webhook deleted", extra: { tenantId: TENANT, webhookId: subscription.id } });
    const before = world.ledger.requests.get("DynamoDB.DeleteItem") ?? 0;
    expect((await refusal(service.delete(TENANT, "nope"))).status).toBe(404);
    expect((await refusal(service.get(TENANT, "nope"))).status).toBe(404);
    expect(world.ledger.requests.get("DynamoDB.DeleteItem") ?? 0).toBe(before);
  });
});

describe("update", () => {
  test("enabling a disabled webhook clears its reason and failing streak; disabling an enabled one records why; neither touches the other case", async () => {
    const { world, service, iso } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"], enabled: false });
    expect(subscription).toMatchObject({ disabledReason: "created disabled", disabledAt: iso() });
    await world.subscriptions.update(TENANT, subscription.id, { failingSince: iso() });
    await world.time.runUntil(world.time.now() + 1_000);
    const on = await service.update((await service.get(TENANT, subscription.id))!, { enabled: true, eventTypes: ["file.*", "file.*"] });
    expect(on).toMatchObject({ enabled: true, eventTypes: ["file.*"], wake: "due", wakeAt: iso() });
    for (const k of ["disabledReason", "disabledAt", "failingSince"]) expect(Object.keys(on)).not.toContain(k);
    const described = await service.update(on, { description: "x" });
    expect([described.enabled, Object.keys(described).includes("disabledReason")]).toEqual([true, false]);
    const off = await service.update(on, { enabled: false });
    expect(off).toMatchObject({ enabled: false, disabledReason: "disabled through the API", disabledAt: iso() });
  });

  test("a change other than enabling or resuming keeps the failing streak and makes nothing due", async () => {
    const { world, service, iso } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    await world.subscriptions.update(TENANT, subscription.id, { failingSince: iso() });
    const changed = await service.update((await service.get(TENANT, subscription.id))!, { description: "x", paused: false, enabled: true });
    expect(changed).toMatchObject({ description: "x", failingSince: iso() });
    expect(Object.keys(changed)).not.toContain("wake");
  });

  test("a change of a webhook deleted meanwhile is a 404", async () => {
    const { service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    await service.delete(TENANT, subscription.id);
    expect((await refusal(service.update(subscription, { description: "x" }))).status).toBe(404);
  });
});

describe("rotateSecret", () => {
  test("without graceSeconds the older secrets sign for the default grace (24 h); the log line names the grace", async () => {
    const { world, service, iso } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const r = await service.rotateSecret(subscription, {});
    const expiresAt = iso(world.time.now() + LIMITS.rotateGraceDefaultSeconds * 1000);
    expect(r.previousSecretsExpireAt).toBe(expiresAt);
    expect(r.subscription.secrets.map((s) => s.expiresAt)).toEqual([undefined, expiresAt]);
    expect(world.logger.lines).toContainEqual({
      level: "info",
      message: "webhook secret rotated",
      extra: { tenantId: TENANT, webhookId: subscription.id, graceSeconds: LIMITS.rotateGraceDefaultSeconds },
    });
  });

  test("a secret whose grace ends exactly now is dropped; one still in its grace is kept to its own end", async () => {
    const { world, service, iso } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const once = await service.rotateSecret(subscription, { graceSeconds: 60 });
    await world.time.runUntil(world.time.now() + 30_000);
    const twice = await service.rotateSecret(once.subscription, { graceSeconds: 60 });
    expect(twice.subscription.secrets.map((s) => s.expiresAt)).toEqual([undefined, iso(world.time.now() + 60_000), iso(world.time.now() + 30_000)]);
    await world.time.runUntil(world.time.now() + 30_000); // the oldest one's grace ends now
    const third = await service.rotateSecret(twice.subscription, { graceSeconds: 60 });
    expect(third.subscription.secrets).toHaveLength(3);
    expect(third.subscription.secrets.map((s) => s.createdAt)).toEqual([
      iso(),
      twice.subscription.secrets[0].createdAt,
      once.subscription.secrets[0].createdAt,
    ]);
  });

  test("with graceSeconds 0 nothing is kept and previousSecretsExpireAt is null", async () => {
    const { service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const r = await service.rotateSecret(subscription, { graceSeconds: 0 });
    expect([r.subscription.secrets.length, r.previousSecretsExpireAt]).toEqual([1, null]);
  });

  test("a legacy plaintext secret is sealed by the rotation for its webhook: no plaintext is written", async () => {
    const { world, service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const legacy = { value: "whsec_legacy", createdAt: subscription.createdAt };
    const stored = (await world.subscriptions.update(TENANT, subscription.id, { secrets: [legacy] }))!;
    const r = await service.rotateSecret(stored, { graceSeconds: 60 });
    const old = r.subscription.secrets[1];
    expect(old.value).toBeUndefined();
    expect(await world.secrets.open(old.sealed!, { tenantId: TENANT, webhookId: subscription.id })).toBe("whsec_legacy");
  });

  test("a rotation that lost a race reads the webhook again and rotates the new state (keeping the winner's secret)", async () => {
    const { service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const winner = await service.rotateSecret(subscription, { graceSeconds: 60 });
    // `subscription` is stale now: its newest secret is no longer the stored one.
    const r = await service.rotateSecret(subscription, { graceSeconds: 60 });
    expect(r.subscription.secrets.map((s) => s.sealed)).toEqual([
      r.subscription.secrets[0].sealed,
      winner.subscription.secrets[0].sealed,
      subscription.secrets[0].sealed,
    ]);
  });

  test(`a rotation that loses 25 races in a row is a 409 and changes nothing; an error other than a lost race is not retried`, async () => {
    let updates = 0;
    let fail: Error = new StaleWrite("lost");
    const { service } = setup((w) => {
      const real = w.subscriptions;
      return Object.assign(Object.create(real) as SubscriptionStore, {
        update: async (...args: Parameters<SubscriptionStore["update"]>) => {
          if (args[3]) {
            updates++;
            throw fail;
          }
          return real.update(...args);
        },
        get: (t: string, id: string) => real.get(t, id),
      });
    });
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const refused = await refusal(service.rotateSecret(subscription, { graceSeconds: 60 }));
    expect(refused).toEqual({
      status: 409,
      code: "concurrent_rotation",
      message: "the webhook's secret kept changing under 25 attempts to rotate it; nothing was changed by this call, retry",
      details: [],
    });
    expect(updates).toBe(25);
    expect((await service.get(TENANT, subscription.id)).secrets).toEqual(subscription.secrets);
    updates = 0;
    fail = new Error("throttled");
    await expect(service.rotateSecret(subscription, { graceSeconds: 60 })).rejects.toThrow("throttled");
    expect(updates).toBe(1);
  });

  test("a webhook deleted during its rotation is a 404", async () => {
    const { service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    await service.delete(TENANT, subscription.id);
    expect((await refusal(service.rotateSecret(subscription, { graceSeconds: 60 }))).status).toBe(404);
  });
});

describe("sendTest", () => {
  test("stores the test event (accepted now, fingerprinted by its id, fanned out to this webhook only) and queues its delivery", async () => {
    const { world, service, iso } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["file.*"] });
    const sent = await service.sendTest(subscription, {});
    const type = EVENT_TYPE_NAMES.find((t) => t.startsWith("file."))!;
    expect(sent.type).toBe(type);
    const event = await world.events.get(TENANT, sent.eventId);
    expect(event).toMatchObject({
      tenantId: TENANT,
      id: sent.eventId,
      type,
      timestamp: iso(),
      acceptedAt: world.time.now(),
      fingerprint: sent.eventId,
      deliveries: [{ deliveryId: sent.deliveryId, webhookId: subscription.id }],
    });
    expect(world.mainQueue.heldBodies().map((b) => JSON.parse(b))).toEqual([
      { v: 1, deliveryId: sent.deliveryId, tenantId: TENANT, webhookId: subscription.id, eventId: sent.eventId, eventType: type, payload: event!.payload },
    ]);
  });

  test("an unknown type is a 400 on the type field naming the known ones; a disabled webhook is a 409", async () => {
    const { service } = setup();
    const { subscription } = await service.create(TENANT, { url: URL, eventTypes: ["*"] });
    const known = EVENT_TYPE_NAMES.join(", ");
    expect(await refusal(service.sendTest(subscription, { type: "nope" }))).toEqual({
      status: 400,
      code: "unknown_event_type",
      message: `unknown event type "nope"; known types: ${known}`,
      details: [{ field: "type", message: `must be one of: ${known}` }],
    });
    expect(await refusal(service.sendTest({ ...subscription, enabled: false }, {}))).toEqual({
      status: 409,
      code: "webhook_disabled",
      message: 'the webhook is disabled; enable it with PATCH {"enabled": true} first',
      details: [],
    });
  });
});
