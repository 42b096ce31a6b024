import { activeSecrets, publicSubscription, releaseReset, webhookHealth, type Subscription } from "#core/model.ts";

/**
 * What leaves the service about a webhook (docs/openapi.yaml: `Webhook`): its public view, never a secret, with
 * its health; and which of its secrets sign at a given time (core-rules.test.ts runs rotation itself).
 */

const T = Date.parse("2026-06-01T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

const base: Subscription = {
  tenantId: "acct_1",
  id: "wh_01JDQ7Z3X4Y5Z6A7B8C9D0E1F2",
  url: "https://example.com/hook",
  eventTypes: ["record.*"],
  enabled: true,
  secrets: [{ value: "whsec_current", sealed: "sealed-blob", createdAt: iso(T) }],
  createdAt: iso(T - 1_000),
  updatedAt: iso(T),
};

describe("webhookHealth", () => {
  test("a webhook never failed: closed, no failures, nothing parked, no circuit times", () => {
    expect(webhookHealth(base)).toEqual({ state: "closed", consecutiveFailures: 0, parked: 0 });
  });

  test.each(["open", "half-open"] as const)("%s: its state, failures, parked count and when it opened and probes next", (circuit) => {
    const sub = { ...base, circuit, consecutiveFailures: 5, openedAt: iso(T), nextProbeAt: iso(T + 30_000), parkedCount: 12 };
    expect(webhookHealth(sub)).toEqual({ state: circuit, consecutiveFailures: 5, openedAt: iso(T), nextProbeAt: iso(T + 30_000), parked: 12 });
  });

  test("closed again: the times of the last opening are not shown (they may linger on the item)", () => {
    expect(webhookHealth({ ...base, consecutiveFailures: 2, openedAt: iso(T), nextProbeAt: iso(T + 30_000), parkedCount: 3 })).toEqual({
      state: "closed",
      consecutiveFailures: 2,
      parked: 3,
    });
  });

  test("open without a next probe time shows when it opened only", () => {
    expect(webhookHealth({ ...base, circuit: "open", openedAt: iso(T) })).toEqual({ state: "open", consecutiveFailures: 0, openedAt: iso(T), parked: 0 });
  });

  test("the approximate parked count is never shown below 0", () => {
    expect(webhookHealth({ ...base, parkedCount: -3 }).parked).toBe(0);
  });
});

describe("publicSubscription", () => {
  test("a plain webhook: every field, nulls for what is unset, not paused, health; no secret, no internal field", () => {
    const sub = { ...base, failingSince: iso(T), wake: "due", wakeAt: iso(T), parkSeq: 4, releasedThrough: "x", slowUntil: iso(T), slowMs: 9_000 };
    expect(publicSubscription(sub)).toEqual({
      id: base.id,
      tenantId: "acct_1",
      url: "https://example.com/hook",
      eventTypes: ["record.*"],
      description: null,
      enabled: true,
      paused: false,
      rateLimit: null,
      disabledReason: null,
      disabledAt: null,
      createdAt: iso(T - 1_000),
      updatedAt: iso(T),
      health: { state: "closed", consecutiveFailures: 0, parked: 0 },
    });
  });

  test("a described, disabled, paused, rate-limited webhook shows each", () => {
    const sub = { ...base, description: "billing", enabled: false, disabledReason: "failing", disabledAt: iso(T), paused: true, rateLimit: 50 };
    expect(publicSubscription(sub)).toMatchObject({
      description: "billing",
      enabled: false,
      disabledReason: "failing",
      disabledAt: iso(T),
      paused: true,
      rateLimit: 50,
    });
  });

  test("its health is webhookHealth's", () => {
    const sub = { ...base, circuit: "open" as const, consecutiveFailures: 7, openedAt: iso(T), parkedCount: 2 };
    expect(publicSubscription(sub).health).toEqual(webhookHealth(sub));
  });
});

describe("activeSecrets", () => {
  const withSecrets = (secrets: Subscription["secrets"]): Subscription => ({ ...base, secrets });

  test("the current secret and those whose grace period has not ended, in stored order", () => {
    const sub = withSecrets([
      { value: "new", createdAt: iso(T) },
      { value: "recent", createdAt: iso(T - 10), expiresAt: iso(T + 60_000) },
      { value: "ended", createdAt: iso(T - 20), expiresAt: iso(T - 1) },
    ]);
    expect(activeSecrets(sub, T)).toEqual(["new", "recent"]);
  });

  test("a secret stops signing at its expiry exactly", () => {
    const sub = withSecrets([{ value: "old", createdAt: iso(T - 10), expiresAt: iso(T) }]);
    expect([activeSecrets(sub, T - 1), activeSecrets(sub, T)]).toEqual([["old"], []]);
  });

  test("a secret that is only sealed (not opened) does not sign", () => {
    expect(
      activeSecrets(
        withSecrets([
          { sealed: "blob", createdAt: iso(T) },
          { value: "open", createdAt: iso(T) },
        ]),
        T,
      ),
    ).toEqual(["open"]);
  });
});

describe("releaseReset (the release cursor's reset value)", () => {
  /** A parked position: `parkSort` = dueAt#deliveryId (settings.ts, parkedIndex). */
  const parked = (ms: number) => `${iso(ms)}#dlv_01JDQ7Z3X4Y5Z6A7B8C9D0E1F2`;

  test("sorts before every parked position, even one due long before the reset", () => {
    for (const due of [0, T - 86_400_000, T, T + 1]) expect(releaseReset(iso(T)) < parked(due)).toBe(true);
  });

  test("differs from one reset to the next, so that a conditional write on the cursor can tell two resets apart", () => {
    expect(releaseReset(iso(T))).not.toBe(releaseReset(iso(T + 1)));
  });
});
